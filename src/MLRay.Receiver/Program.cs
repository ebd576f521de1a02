// The MLflow webhook receiver: verifies, dedups and queues registry events (see Hosting/ReceiverApp.cs).
return await MLRay.Receiver.Hosting.ReceiverApp.RunAsync(args);

public partial class Program;
