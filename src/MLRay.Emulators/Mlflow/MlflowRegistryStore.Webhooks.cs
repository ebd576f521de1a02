namespace MLRay.Emulators.Mlflow;

/// <summary>Webhooks: their management, and who is subscribed to the events a change fires.</summary>
internal sealed partial class MlflowRegistryStore
{
    private readonly List<Webhook> _webhooks = new();

    /// <summary>What an update changes: null leaves a field as it is.</summary>
    public sealed record WebhookUpdate(string? Name, string? Description, string? Url,
        IReadOnlyList<(string Entity, string Action)>? Events, string? Secret, string? Status);

    /// <summary>Stores a new webhook; <paramref name="events"/> are already validated <c>(ENTITY, ACTION)</c> pairs.</summary>
    public WebhookView CreateWebhook(string name, string url, IEnumerable<(string Entity, string Action)> events, string? secret, string? description, string status)
    {
        lock (_lock)
        {
            var now = Now();
            var hook = new Webhook
            {
                Id = Guid.NewGuid().ToString("N"),
                Name = name,
                Url = url,
                Events = events.ToList(),
                Description = description,
                Secret = secret,
                Status = status,
                CreationTimestamp = now,
                LastUpdatedTimestamp = now,
            };
            _webhooks.Add(hook);
            return ViewOf(hook);
        }
    }

    public RegistryPage<WebhookView> ListWebhooks(int offset, int maxResults)
    {
        lock (_lock) return PageOf(_webhooks.Where(h => !h.Deleted).ToList(), offset, maxResults, ViewOf);
    }

    public WebhookView GetWebhook(string id)
    {
        lock (_lock) return ViewOf(WebhookOrThrow(id));
    }

    public WebhookView UpdateWebhook(string id, WebhookUpdate update)
    {
        lock (_lock)
        {
            var hook = WebhookOrThrow(id);
            if (update.Name is not null) hook.Name = update.Name;
            if (update.Description is not null) hook.Description = update.Description;
            if (update.Url is not null) hook.Url = update.Url;
            if (update.Events is not null) hook.Events = update.Events.ToList();
            if (update.Secret is not null) hook.Secret = update.Secret;
            if (update.Status is not null) hook.Status = update.Status;
            hook.LastUpdatedTimestamp = Now();
            return ViewOf(hook);
        }
    }

    /// <summary>Soft delete, as MLflow's: the webhook disappears from every answer and gets no more deliveries.</summary>
    public void DeleteWebhook(string id)
    {
        lock (_lock) WebhookOrThrow(id).Deleted = true;
    }

    /// <summary>Where a test delivery of the webhook goes, and its first event (the one tested by default).</summary>
    public (WebhookTarget Target, (string Entity, string Action) FirstEvent) GetWebhookTarget(string id)
    {
        lock (_lock)
        {
            var hook = WebhookOrThrow(id);
            return (TargetOf(hook), hook.Events[0]);
        }
    }

    /// <summary>One delivery per event and ACTIVE webhook subscribed to it, in event order (called under the lock).</summary>
    private List<PendingDelivery> SubscribersOf(List<RegistryEvent> events)
    {
        var deliveries = new List<PendingDelivery>();
        foreach (var evt in events)
        {
            var subscription = evt.Subscription;
            foreach (var hook in _webhooks)
                if (!hook.Deleted && hook.Status == "ACTIVE" && hook.Events.Contains(subscription))
                    deliveries.Add(new PendingDelivery(evt, TargetOf(hook)));
        }
        return deliveries;
    }

    private Webhook WebhookOrThrow(string id) =>
        _webhooks.FirstOrDefault(h => h.Id == id && !h.Deleted)
        ?? throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", $"Webhook with ID {id} not found.");

    private static WebhookTarget TargetOf(Webhook hook) => new(hook.Id, hook.Url, hook.Secret);

    private static WebhookView ViewOf(Webhook hook) => new(
        hook.Id, hook.Name, hook.Description, hook.Url, hook.Events.ToArray(), hook.Status, hook.CreationTimestamp, hook.LastUpdatedTimestamp);
}
