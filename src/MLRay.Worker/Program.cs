// The cluster worker: consumes its clusters' queues (single active consumer) and, unless --no-router, routes (see Hosting/WorkerApp.cs).
return await MLRay.Worker.Hosting.WorkerApp.RunAsync(args);
