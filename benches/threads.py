#!/usr/bin/env python3
"""Run `expressway run --config CFG --from-start` and account its CPU per thread.

    benches/threads.py BIN CONFIG RECORDS

Samples /proc/PID/task/*/stat every 50 ms (utime + stime, by thread name:
shard-N, sink-writer-N, source-reader-N (readers past the first; the first
source loop runs on the pipeline's thread), librdkafka's and
tokio's threads), keeps each thread's last reading, and prints one line:
the run's exec/s (from its summary), CPU seconds per thread group and the
CPU per record, in microseconds, spent outside the shard threads.
"""
import os, re, subprocess, sys, time

bin_, config, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
p = subprocess.Popen([bin_, "run", "--config", config, "--from-start"], stderr=subprocess.PIPE, text=True)
last = {}  # tid -> (name, cpu seconds)
while p.poll() is None:
    try:
        for tid in os.listdir(f"/proc/{p.pid}/task"):
            try:
                stat = open(f"/proc/{p.pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            last[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    except OSError:
        pass
    time.sleep(0.05)
summary = p.stderr.read()
rate = re.search(r"([0-9.]+) exec/s", summary)
groups = {}
for name, cpu in last.values():
    group = ("shards" if name.startswith("shard-") else "sink writers" if name.startswith("sink-writer")
             else "source readers" if name.startswith("source-reader") else name)
    groups[group] = groups.get(group, 0.0) + cpu
outside = sum(cpu for g, cpu in groups.items() if g != "shards")
parts = " ".join(f"{g}={cpu:.2f}s" for g, cpu in sorted(groups.items(), key=lambda kv: -kv[1]))
print(f"{rate.group(1) if rate else '?'} exec/s; cpu {parts}; outside shards {outside * 1e6 / records:.2f} us/record")
