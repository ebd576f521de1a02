using MLRay.Receiver.Webhooks;

namespace MLRay.Tests.Receiver;

public sealed class PublishedDeliveriesTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_755_600_000));

    [Fact]
    public void An_id_is_a_duplicate_only_after_its_publish_completed()
    {
        var deliveries = new PublishedDeliveries(_time, TimeSpan.FromMinutes(10));
        Assert.Equal(DeliveryState.New, deliveries.TryBegin("a"));
        Assert.Equal(DeliveryState.InFlight, deliveries.TryBegin("a"));
        deliveries.Complete("a");
        Assert.Equal(DeliveryState.Published, deliveries.TryBegin("a"));
        Assert.Equal(DeliveryState.New, deliveries.TryBegin("b"));
    }

    [Fact]
    public void An_abandoned_id_is_forgotten_so_the_retry_is_processed()
    {
        var deliveries = new PublishedDeliveries(_time, TimeSpan.FromMinutes(10));
        Assert.Equal(DeliveryState.New, deliveries.TryBegin("a"));
        deliveries.Abandon("a");
        Assert.Equal(DeliveryState.New, deliveries.TryBegin("a"));
        Assert.Equal(0, deliveries.Count);
    }

    [Fact]
    public void Ids_expire_after_the_window()
    {
        var deliveries = new PublishedDeliveries(_time, TimeSpan.FromMinutes(10));
        deliveries.TryBegin("a");
        deliveries.Complete("a");
        _time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        Assert.Equal(DeliveryState.Published, deliveries.TryBegin("a"));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DeliveryState.New, deliveries.TryBegin("a"));
        Assert.Equal(0, deliveries.Count);
    }

    [Fact]
    public void Capacity_forgets_the_oldest_first()
    {
        var deliveries = new PublishedDeliveries(_time, TimeSpan.FromMinutes(10), capacity: 2);
        foreach (var id in new[] { "a", "b", "c" })
        {
            deliveries.TryBegin(id);
            deliveries.Complete(id);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(2, deliveries.Count);
        Assert.Equal(DeliveryState.Published, deliveries.TryBegin("c"));
        Assert.Equal(DeliveryState.Published, deliveries.TryBegin("b"));
        Assert.Equal(DeliveryState.New, deliveries.TryBegin("a"));
    }
}
