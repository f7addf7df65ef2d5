using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

/// <summary>
/// Group commit for one limit scope (one hash slot): the admissions and settlements of a scope go to Redis together, in
/// one call of <see cref="LimitScripts.Batch"/>, which applies them one after another in the order given, exactly as
/// separate calls would (settlements first, so a slot a request just left is free for the admissions behind it).
/// <list type="bullet">
/// <item>An admission goes at once when nothing of its scope is in flight; otherwise it waits for that call's answer and
/// goes with everything that gathered meanwhile: one round trip, one script call, for many requests under load.</item>
/// <item>A settlement waits up to <see cref="SettlementLinger"/> for the scope's next admission and rides on it: a key
/// sending steadily pays one Redis call per request instead of two. The client never waits for a settlement; the only
/// effect of the delay is that another replica sees the slot and the reservation's true figures that much later
/// (it may refuse where it would have admitted, never the other way round).</item>
/// <item>A full batch (<see cref="MaxPerCall"/>) goes at once, pipelined behind the call in flight; and should an answer be
/// late (Redis stalled), an admission that comes <see cref="StallAfter"/> or more after the last call was sent goes at
/// once, with whatever waits. Either way each decision keeps its own deadline (the script refuses one reached past it, and
/// the caller asks again under a new reservation id), as it did with one call per admission.</item>
/// </list>
/// One queue per scope of a valid key (a made-up key never gets here), kept for the life of the process.
/// </summary>
internal sealed class ScopeBatches(RedisStore redis, TimeProvider clock)
{
    /// <summary>How long a settlement waits for an admission of its scope to ride on.</summary>
    public static readonly TimeSpan SettlementLinger = TimeSpan.FromMilliseconds(2);

    /// <summary>How long an admission waits behind a call of its scope that has not answered before it goes on its own.</summary>
    public static readonly TimeSpan StallAfter = TimeSpan.FromMilliseconds(50);

    /// <summary>At most this many operations per call, so that one script never holds Redis for long.</summary>
    public const int MaxPerCall = 32;

    private static readonly RedisScript Script = new("ratelimit.batch", LimitScripts.Batch);

    // Each operation's kind, as the bytes the client copies as they are (a string it encodes on every write).
    private static readonly RedisValue AdmissionKind = "a"u8.ToArray(), SettlementKind = "s"u8.ToArray();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Queue> _queues = new(StringComparer.Ordinal);

    public RedisScript BatchScript => Script;

    /// <summary>Admits by way of the scope's queue: the script's answer to this admission.</summary>
    public Task<RedisResult> AdmitAsync(string scope, RedisKey[] keys, RedisValue[] args) => Submit(scope, new Operation(true, keys, args));

    /// <summary>Settles by way of the scope's queue (rides on the next admission, or goes after the linger).</summary>
    public Task SettleAsync(string scope, RedisKey[] keys, RedisValue[] args) => Submit(scope, new Operation(false, keys, args));

    /// <summary>Sends everything still waiting, and waits for every call in flight (a replica stopping).</summary>
    public async Task FlushAsync()
    {
        var calls = new List<Task>();
        foreach (var queue in _queues.Values)
        {
            lock (queue)
            {
                while (queue.Waiting.Count > 0)
                {
                    calls.Add(Send(queue, queue.Take()));
                }

                calls.AddRange(queue.Calls.Where(c => !c.IsCompleted));
            }
        }

        await Task.WhenAll(calls).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private Task<RedisResult> Submit(string scope, Operation op)
    {
        var queue = _queues.GetOrAdd(scope, static (_, clock) => new Queue(clock), clock);
        lock (queue)
        {
            queue.Waiting.Add(op);
            // A full batch goes at once, behind the call in flight on the same connection (a burst never waits for round trips).
            if (op.IsAdmission && (queue.InFlight == 0 || queue.Waiting.Count >= MaxPerCall || clock.GetElapsedTime(queue.SentAt) > StallAfter))
            {
                Send(queue, queue.Take());
            }
            else if (queue.InFlight == 0)
            {
                queue.ArmLinger(this);
            }
        }

        return op.Done.Task;
    }

    /// <summary>Starts one call for <paramref name="batch"/> (under the queue's lock).</summary>
    private Task Send(Queue queue, List<Operation> batch)
    {
        // The settlements waiting ride on this call: a linger left armed would wake a timer thread for nothing.
        queue.DisarmLinger();
        queue.SentAt = clock.GetTimestamp();
        queue.InFlight++;
        var call = CallAsync(queue, batch);
        queue.Calls.RemoveAll(c => c.IsCompleted);
        queue.Calls.Add(call);
        return call;
    }

    private async Task CallAsync(Queue queue, List<Operation> batch)
    {
        RedisResult[]? results = null;
        Exception? failure = null;
        try
        {
            // The call's arrays, each made once at its final size (not grown as lists, then copied).
            var (keyCount, argCount) = (0, 1);
            foreach (var op in batch)
            {
                keyCount += op.Keys.Length;
                argCount += 3 + op.Args.Length;
            }

            var keys = new RedisKey[keyCount];
            var args = new RedisValue[argCount];
            args[0] = batch.Count;
            var (k, a) = (0, 1);
            foreach (var op in batch)
            {
                op.Keys.CopyTo(keys, k);
                k += op.Keys.Length;
                args[a++] = op.IsAdmission ? AdmissionKind : SettlementKind;
                args[a++] = op.Keys.Length;
                args[a++] = op.Args.Length;
                op.Args.CopyTo(args, a);
                a += op.Args.Length;
            }

            var call = redis.EvalAsync(Script, keys, args);
            if (call.IsCompleted)
            {
                // Failed at once (no connection): answer the callers off this thread, which holds the queue's lock.
                await Task.Yield();
            }

            results = (RedisResult[])(await call.ConfigureAwait(false))!;
            if (results.Length != batch.Count)
            {
                throw new InvalidOperationException($"The limits script answered {results.Length} of {batch.Count} operations.");
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        // What gathered behind this call goes before its callers resume, so the next round trip starts at once.
        Next(queue);
        Answer(batch, results, failure);
    }

    /// <summary>
    /// Hands each operation its answer. Settlements' callers only note it, so they run here; each admission's caller goes on
    /// to serve its request, so all but the last run on the thread pool, in parallel, and the last on this thread (a batch of
    /// one costs no hop).
    /// </summary>
    private static void Answer(List<Operation> batch, RedisResult[]? results, Exception? failure)
    {
        var last = batch.FindLastIndex(o => o.IsAdmission);
        for (var i = 0; i < batch.Count; i++)
        {
            var (op, result) = (batch[i], results?[i]);
            if (op.IsAdmission && i != last)
            {
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Op.Complete(s.Result, s.Failure), (Op: op, Result: result, Failure: failure), preferLocal: false);
            }
            else
            {
                op.Complete(result, failure);
            }
        }
    }

    /// <summary>A call answered: what gathered behind it goes now if it holds an admission, else waits for the linger.</summary>
    private void Next(Queue queue)
    {
        lock (queue)
        {
            queue.InFlight--;
            if (queue.InFlight > 0 || queue.Waiting.Count == 0)
            {
                return;
            }

            if (queue.Waiting.Exists(o => o.IsAdmission))
            {
                Send(queue, queue.Take());
            }
            else
            {
                queue.ArmLinger(this);
            }
        }
    }

    /// <summary>The linger ran out: the settlements waiting go on their own, unless a call is on its way (they follow it).</summary>
    private void LingerOver(Queue queue)
    {
        lock (queue)
        {
            queue.LingerArmed = false;
            if (queue.InFlight == 0 && queue.Waiting.Count > 0)
            {
                Send(queue, queue.Take());
            }
        }
    }

    private sealed record Operation(bool IsAdmission, RedisKey[] Keys, RedisValue[] Args)
    {
        public TaskCompletionSource<RedisResult> Done { get; } = new();

        public void Complete(RedisResult? result, Exception? failure)
        {
            if (failure is not null)
            {
                Done.TrySetException(failure);
            }
            else
            {
                Done.TrySetResult(result!);
            }
        }
    }

    /// <summary>One scope's waiting operations and calls in flight; guarded by its own lock.</summary>
    private sealed class Queue(TimeProvider clock)
    {
        private ITimer? _linger;

        public List<Operation> Waiting { get; } = [];

        /// <summary>Calls sent and not yet answered: what the decisions wait on.</summary>
        public int InFlight { get; set; }

        /// <summary>The calls sent (answered ones dropped at the next send), for a flush to wait on.</summary>
        public List<Task> Calls { get; } = [];

        public long SentAt { get; set; }

        public bool LingerArmed { get; set; }

        /// <summary>Up to <see cref="MaxPerCall"/> waiting operations, settlements before admissions, each kind in arrival order.</summary>
        public List<Operation> Take()
        {
            var count = Math.Min(MaxPerCall, Waiting.Count);
            var batch = new List<Operation>(count);
            for (var i = 0; i < count; i++)
            {
                if (!Waiting[i].IsAdmission)
                {
                    batch.Add(Waiting[i]);
                }
            }

            for (var i = 0; i < count; i++)
            {
                if (Waiting[i].IsAdmission)
                {
                    batch.Add(Waiting[i]);
                }
            }

            Waiting.RemoveRange(0, count);
            return batch;
        }

        public void ArmLinger(ScopeBatches owner)
        {
            if (LingerArmed)
            {
                return;
            }

            LingerArmed = true;
            _linger ??= clock.CreateTimer(static state => { var (o, q) = ((ScopeBatches, Queue))state!; o.LingerOver(q); }, (owner, this),
                Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _linger.Change(SettlementLinger, Timeout.InfiniteTimeSpan);
        }

        public void DisarmLinger()
        {
            if (LingerArmed)
            {
                LingerArmed = false;
                _linger!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }
    }
}
