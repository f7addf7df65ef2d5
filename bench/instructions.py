#!/usr/bin/env python3
"""Helpers of bench/instructions.sh (not run on its own).

  load PORT REQUESTS CONNECTIONS json|stream   exactly REQUESTS chat completions over CONNECTIONS kept connections;
                                               exits 1 if any answer is not a 200
  summary REQUESTS TOP PERF_MAP DUMP...        instructions per request of each callgrind dump (one per window), then,
                                               for the window with the fewest, where they go: by library, by assembly
                                               (the gateway's own code by namespace), the costliest functions (self) and
                                               the gateway's costliest methods (inclusive)

JIT-compiled code has no symbols for valgrind: callgrind names such a function by its address, and the runtime's perf
map (DOTNET_PerfMapEnabled) gives the method at that address. A method that is only ever entered by a jump (from a
delegate's thunk or an interface's dispatch stub) is not a function of its own to callgrind: its instructions count as
the stub's. The usage record's generated serializer, reached through a delegate, is counted under
"stub ReportStubBlock<MethodCallThunk>" that way, so read the stubs' rows as stubs and some of what they lead to.
"""
import bisect
import http.client
import json
import re
import subprocess
import sys
import threading
from collections import Counter


def load(port, requests, connections, kind):
    stream = kind == "stream"
    body = json.dumps({"model": "bench-llama", "stream": stream,
                       "messages": [{"role": "user", "content": "Say something short about foxes."}]})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-key",
               "Accept": "text/event-stream" if stream else "application/json"}
    failed = []

    def run(count):
        # Under valgrind an answer takes tens of milliseconds; the timeout only ends a hang.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(count):
            connection.request("POST", "/v1/chat/completions", body, headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                failed.append(answer.status)

    share = [requests // connections + (1 if i < requests % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=run, args=(n,)) for n in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        print(f"{len(failed)} of {requests} answers were not 200 (first: {failed[0]})", file=sys.stderr)
        sys.exit(1)


def read_map(path):
    """The perf map's ranges (start, end, name), sorted by start."""
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    start, size = int(parts[0], 16), int(parts[1], 16)
                    ranges.append((start, start + size, parts[2]))
    except FileNotFoundError:
        pass
    ranges.sort()
    return ranges, [r[0] for r in ranges]


def method_of(address, ranges, starts):
    i = bisect.bisect_right(starts, address) - 1
    if i >= 0 and ranges[i][0] <= address < ranges[i][1]:
        return ranges[i][2]
    return None


# A perf map name: "instance bool [System.Text.Json] System.Text.Json.Utf8JsonReader::Read()[Optimized]", or a stub's
# "stub ReportStubBlock<...>".
METHOD = re.compile(r"\[([^\]]+)\] ([^:(]+)::")
TIER = re.compile(r"\[(Optimized|OptimizedTier1|Tier0|Tier1|Instrumented[A-Za-z0-9]*|PreJIT|QuickJitted)\]$")


def namespace_of(method):
    """The assembly, or for the gateway's own code its namespace below Gateway."""
    m = METHOD.search(method)
    if not m:
        return "runtime stubs"
    assembly, type_name = m.group(1), m.group(2)
    if assembly == "Gateway":
        parts = type_name.split(".")
        return ".".join(parts[:2]) if len(parts) > 2 else "Gateway"
    return assembly


def functions(dump, inclusive=False):
    """(instructions, function, object) for every function of a dump, self or inclusive, from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", f"--inclusive={'yes' if inclusive else 'no'}", dump],
                         capture_output=True, text=True).stdout
    rows = []
    listing = False
    for line in out.splitlines():
        if "file:function" in line:
            listing = True
            continue
        if not listing:
            continue
        m = re.match(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*?)\s+\[(.*)\]\s*$", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2), m.group(3)))
    return rows


def total_of(dump):
    with open(dump) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return 0


def library_of(obj):
    return obj.rsplit("/", 1)[-1]


def address_of(function):
    """The address callgrind names a symbol-less function by (it may add a context suffix, '2), or None."""
    return int(function.split(":")[-1].split("'")[0], 16) if ":0x" in function else None


def summary(requests, perf_map, dumps, top):
    # The JIT-compiled code's count is the steady one (the windows of one run agreed within 0.1-1.3%); the runtime's moves
    # with the number of collections a window happens to hold, and the JIT's with late compiles (timers' first runs).
    print("  per request, each window: all / JIT-compiled code / the runtime (libcoreclr) / the JIT compiling")
    windows = []
    for dump in dumps:
        rows = functions(dump)
        by_object = Counter()
        for cost, _, obj in rows:
            by_object[library_of(obj)] += cost
        total = total_of(dump)
        windows.append((total, dump, rows))
        print(f"    {total / requests:,.0f} / {by_object['???'] / requests:,.0f} / "
              f"{by_object['libcoreclr.so'] / requests:,.0f} / {by_object['libclrjit.so'] / requests:,.0f}")
    best_total, best, best_rows = min(windows, key=lambda w: w[0])
    print(f"  per request, the window with the fewest: {best_total / requests:,.0f}")
    ranges, starts = read_map(perf_map)
    by_library, by_namespace, by_method = Counter(), Counter(), Counter()
    for cost, function, obj in best_rows:
        if obj == "???":
            address = address_of(function)
            method = method_of(address, ranges, starts) if address is not None else None
            library = "JIT-compiled code"
            name = TIER.sub("", method) if method else "(not in the perf map)"
            by_namespace[namespace_of(name) if method else name] += cost
        else:
            library = library_of(obj)
            name = f"{function.rsplit(':', 1)[-1]} ({library})"
        by_method[name] += cost
        by_library[library] += cost

    def table(title, costs, limit):
        print(f"  {title}:")
        for name, cost in costs.most_common(limit):
            print(f"    {cost / requests:>9,.0f}  {cost * 100 / best_total:5.1f}%  {name}")

    # Inclusive figures of the gateway's own methods: what each step of the request path costs with what it calls (an
    # async method's figure holds the part of it that ran before its first wait, and each resumption's part).
    gateway_inclusive = Counter()
    for cost, function, obj in functions(best, inclusive=True):
        address = address_of(function) if obj == "???" else None
        method = method_of(address, ranges, starts) if address is not None else None
        if method and "[Gateway] " in method:
            name = TIER.sub("", method)
            gateway_inclusive[name] = max(gateway_inclusive[name], cost)

    table("by library (self)", by_library, 12)
    table("JIT-compiled code by assembly, the gateway's by namespace (self)", by_namespace, 20)
    table(f"the {top} costliest functions (self)", by_method, top)
    if gateway_inclusive:
        table(f"the gateway's {top} costliest methods (inclusive)", gateway_inclusive, top)


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "summary":
        summary(int(sys.argv[2]), sys.argv[4], sys.argv[5:], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
