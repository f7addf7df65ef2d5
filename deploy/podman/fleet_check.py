#!/usr/bin/env python3
"""Client side of deploy/podman/fleet-proof.sh: smoke requests per provider kind, a steady load during the rolling
restart, and the usage the clients received compared with what the gateways metered in Redis. Standard library only."""
import json, os, sys, threading, time, urllib.request, urllib.error

LB = os.environ["LB_URL"]
KEY, ADMIN = "sk-demo-key", "sk-demo-admin"
results = {"passed": 0, "failed": 0}
lock = threading.Lock()
received = {"requests": 0, "prompt": 0, "completion": 0}
failures = []


def check(ok, what):
    with lock:
        results["passed" if ok else "failed"] += 1
    print(("PASS " if ok else "FAIL ") + what, flush=True)


def post(body, stream=False, timeout=60):
    req = urllib.request.Request(LB + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


def chat(model, text, stream):
    """One request; returns (ok, usage, detail). A stream must end with [DONE] and carry no error event."""
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    try:
        status, payload = post(body, stream)
    except urllib.error.HTTPError as e:
        detail = e.read().decode()
        # An error the gateway itself answered is metered as a request without tokens; one from HAProxy is not.
        usage = {"prompt_tokens": 0, "completion_tokens": 0} if detail.startswith('{"error"') else None
        return False, usage, f"HTTP {e.code}: {detail[:200]}"
    except Exception as e:  # noqa: BLE001 - any transport failure is a failed client request
        return False, None, f"{type(e).__name__}: {e}"
    if status != 200:
        return False, None, f"status {status}"
    if not stream:
        doc = json.loads(payload)
        return bool(doc["choices"][0]["message"]["content"]), doc["usage"], "ok"
    events = [e[len("data: "):] for e in payload.split("\n\n") if e.startswith("data: ")]
    if not events or events[-1] != "[DONE]" or any('"error"' in e for e in events):
        return False, None, "stream did not end cleanly: " + payload[-300:]
    usage = next((json.loads(e)["usage"] for e in events[:-1] if json.loads(e).get("usage")), None)
    return usage is not None, usage, "ok"


def count(usage):
    with lock:
        received["requests"] += 1
        received["prompt"] += usage["prompt_tokens"]
        received["completion"] += usage["completion_tokens"]


def smoke():
    for model, kind in [("llama-3.1-8b-instruct", "deepinfra"), ("llama-3.2-1b-instruct", "hive-v3"),
                        ("llama-3.1-70b-instruct", "segmind"), ("llama-3.2-1b-instruct-v2", "hive-v2 (callback through the balancer)")]:
        for stream in (False, True):
            ok, usage, detail = chat(model, f"hello {kind}", stream)
            if usage:
                count(usage)
            check(ok, f"{kind} {'stream' if stream else 'json'} through the balancer: {detail}")


def load(stop_file, stream):
    n = 0
    while not os.path.exists(stop_file):
        # Streams last about 1.5 s, so that some are always in flight on the replica being restarted.
        text = "rolling [sim words=6 chunk_delay_ms=250]" if stream else f"steady {n}"
        ok, usage, detail = chat("llama-3.1-8b-instruct", text, stream)
        if usage:
            count(usage)
        if not ok:
            with lock:
                failures.append(detail)
        n += 1


def metered():
    req = urllib.request.Request(LB + "/admin/usage?key=demo&group_by=key", headers={"Authorization": "Bearer " + ADMIN})
    with urllib.request.urlopen(req, timeout=10) as r:
        totals = json.loads(r.read())["totals"]
    return totals["requests"], totals["prompt_tokens"], totals["completion_tokens"]


def main():
    stage = sys.argv[1]
    if stage == "smoke":
        smoke()
    elif stage == "load":
        stop_file = sys.argv[2]
        workers = [threading.Thread(target=load, args=(stop_file, i % 2 == 1)) for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        for f in failures[:10]:
            print("  failed request: " + f, flush=True)
        check(not failures, f"rolling restart under load: {received['requests']} requests answered, {len(failures)} failed")
        state = sys.argv[3]
        previous = json.load(open(state)) if os.path.exists(state) else {"requests": 0, "prompt": 0, "completion": 0}
        for k in received:
            received[k] += previous[k]
    if stage in ("smoke", "load"):
        state = sys.argv[-1]
        json.dump(received, open(state, "w"))
    if stage == "usage":
        expected = json.load(open(sys.argv[2]))
        want = (expected["requests"], expected["prompt"], expected["completion"])
        got = None
        deadline = time.time() + 30
        while time.time() < deadline:
            got = metered()
            if got == want:
                break
            time.sleep(0.5)
        check(got == want, f"usage in Redis equals what the clients received: requests, prompt, completion = {got} (clients: {want})")
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
