"""measure -- what the benchmark scripts share: one okq-bench run checked for
losses, and what they read off a running server, its CPU time (utime +
stime) and the system calls it makes while something runs."""

import json
import os
import shutil
import signal
import subprocess
import time


def okq_bench(build, port, args, duration=None, requests=None):
    """okq-bench's JSON report of a run of `duration` seconds or `requests`
    requests against 127.0.0.1:port; raises if it lost a reply or saw an error."""
    cmd = [os.path.join(build, "okq-bench"), "-q", "--json", *args]
    cmd += ["-d", str(duration)] if duration else ["-n", str(requests)]
    out = subprocess.run(cmd + [f"127.0.0.1:{port}"], capture_output=True, text=True,
                         check=False, timeout=600).stdout
    r = json.loads(out)
    if r["lost"] or r["errors"]:
        raise RuntimeError(f"through {port}: lost {r['lost']}, errors {r['errors']}")
    return r


def cpu_split(pid):
    """(utime, stime) of a process in seconds, from /proc/PID/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid):
    """utime + stime of a process."""
    return sum(cpu_split(pid))


def count_syscalls(pid, run):
    """(system calls process `pid` made, every thread, while `run()` ran,
    what run() returned), counted by perf on the raw_syscalls:sys_enter
    tracepoint; the count is None where perf cannot count them."""
    if not shutil.which("perf"):
        return None, run()
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter",
                             "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(0.3)  # attached before the load starts
    try:
        result = run()
    finally:
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate(timeout=30)
    try:
        count = next(int(line.split(",")[0]) for line in err.splitlines()
                     if "raw_syscalls:sys_enter" in line)
    except (ValueError, StopIteration):
        count = None
    return count, result
