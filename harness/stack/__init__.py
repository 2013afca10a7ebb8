"""The target stack's lifecycle on Docker Swarm: base image, builds, deploy, wait, status, teardown."""
