namespace MLRay.Receiver.Webhooks;

public enum DeliveryState
{
    /// <summary>Never published (or forgotten): the caller now owns it and must <c>Complete</c> or <c>Abandon</c>.</summary>
    New,
    /// <summary>Another request with this id is publishing right now.</summary>
    InFlight,
    /// <summary>Already published and confirmed within the dedup window.</summary>
    Published,
}

/// <summary>
/// The delivery ids whose message the broker confirmed, remembered for the dedup window. An id is recorded only
/// after the publish succeeded, so a delivery that failed to publish is retried by MLflow, not dropped.
/// In-process (one receiver replica dedups its own retries; a duplicate across replicas is harmless: the
/// pipeline is idempotent). Bounded: the oldest ids are forgotten first.
/// </summary>
public sealed class PublishedDeliveries(TimeProvider time, TimeSpan window, int capacity = 1_000_000)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _published = new(StringComparer.Ordinal);   // id → expiry (ticks)
    private readonly Queue<(string Id, long Expires)> _expiry = new();
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);

    public int Count { get { lock (_lock) return _published.Count; } }

    public DeliveryState TryBegin(string deliveryId)
    {
        var now = time.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            Purge(now);
            if (_published.TryGetValue(deliveryId, out var expires) && expires > now) return DeliveryState.Published;
            return _inFlight.Add(deliveryId) ? DeliveryState.New : DeliveryState.InFlight;
        }
    }

    /// <summary>The broker confirmed the message: remember the id for the window.</summary>
    public void Complete(string deliveryId)
    {
        var now = time.GetUtcNow().UtcTicks;
        var expires = now + window.Ticks;
        lock (_lock)
        {
            _inFlight.Remove(deliveryId);
            _published[deliveryId] = expires;
            _expiry.Enqueue((deliveryId, expires));
            Purge(now);
            while (_published.Count > capacity && _expiry.TryDequeue(out var oldest))
                if (_published.TryGetValue(oldest.Id, out var e) && e == oldest.Expires) _published.Remove(oldest.Id);
        }
    }

    /// <summary>The publish failed: forget the id so MLflow's retry is processed.</summary>
    public void Abandon(string deliveryId)
    {
        lock (_lock) _inFlight.Remove(deliveryId);
    }

    private void Purge(long now)
    {
        while (_expiry.TryPeek(out var head) && head.Expires <= now)
        {
            _expiry.Dequeue();
            if (_published.TryGetValue(head.Id, out var e) && e == head.Expires) _published.Remove(head.Id);
        }
    }
}
