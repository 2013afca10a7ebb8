// Prometheus text exposition for the app, kept dependency-free (Debian has no prom-client).
'use strict';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function esc(value) {
  return String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels) {
  const parts = Object.keys(labels).map((k) => `${k}="${esc(labels[k])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

class Registry {
  constructor(version) {
    this.version = version;
    this.requests = new Map(); // key -> {labels, value}
    this.durations = new Map(); // key -> {labels, counts[], sum, count}
    this.gauges = new Map(); // name -> () => number
  }

  observeRequest(method, route, status, seconds) {
    const rKey = `${method}|${route}|${status}`;
    const r = this.requests.get(rKey) || { labels: { method, route, status: String(status), version: this.version }, value: 0 };
    r.value += 1;
    this.requests.set(rKey, r);

    const dKey = `${method}|${route}`;
    let d = this.durations.get(dKey);
    if (!d) {
      d = { labels: { method, route, version: this.version }, counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(dKey, d);
    }
    BUCKETS.forEach((b, i) => { if (seconds <= b) d.counts[i] += 1; });
    d.sum += seconds;
    d.count += 1;
  }

  gauge(name, help, fn) {
    this.gauges.set(name, { help, fn });
  }

  render() {
    const out = [];
    out.push('# HELP http_requests_total HTTP requests served, by method, route and status.');
    out.push('# TYPE http_requests_total counter');
    for (const r of this.requests.values()) out.push(`http_requests_total${labelText(r.labels)} ${r.value}`);

    out.push('# HELP http_request_duration_seconds Time to serve a request.');
    out.push('# TYPE http_request_duration_seconds histogram');
    for (const d of this.durations.values()) {
      BUCKETS.forEach((b, i) => {
        out.push(`http_request_duration_seconds_bucket${labelText({ ...d.labels, le: String(b) })} ${d.counts[i]}`);
      });
      out.push(`http_request_duration_seconds_bucket${labelText({ ...d.labels, le: '+Inf' })} ${d.count}`);
      out.push(`http_request_duration_seconds_sum${labelText(d.labels)} ${d.sum}`);
      out.push(`http_request_duration_seconds_count${labelText(d.labels)} ${d.count}`);
    }

    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    out.push('# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.');
    out.push('# TYPE process_cpu_seconds_total counter');
    out.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`);
    out.push('# HELP process_resident_memory_bytes Resident memory size in bytes.');
    out.push('# TYPE process_resident_memory_bytes gauge');
    out.push(`process_resident_memory_bytes ${mem.rss}`);
    out.push('# HELP nodejs_heap_used_bytes V8 heap in use.');
    out.push('# TYPE nodejs_heap_used_bytes gauge');
    out.push(`nodejs_heap_used_bytes ${mem.heapUsed}`);
    out.push('# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.');
    out.push('# TYPE process_start_time_seconds gauge');
    out.push(`process_start_time_seconds ${Math.floor(Date.now() / 1000 - process.uptime())}`);
    out.push('# HELP app_info The running release of the app.');
    out.push('# TYPE app_info gauge');
    out.push(`app_info${labelText({ version: this.version })} 1`);
    for (const [name, g] of this.gauges) {
      out.push(`# HELP ${name} ${g.help}`);
      out.push(`# TYPE ${name} gauge`);
      out.push(`${name} ${Number(g.fn())}`);
    }
    return `${out.join('\n')}\n`;
  }
}

module.exports = { Registry };
