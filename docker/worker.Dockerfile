# MLRay cluster worker (and router). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t mlray-worker .
# Run with the config mounted at /config/config.yml and the cluster in MLRAY_CLUSTER (or --cluster NAME). The worker
# loads the same config as the receiver, so the variable its receiver.webhook_secret_env names (MLRAY_WEBHOOK_SECRET in
# config.example.yml and compose/config.yml) must be set too, and RABBITMQ_URI names the broker:
#   docker run -v $PWD/config.yml:/config/config.yml:ro -e MLRAY_CLUSTER=ray-cluster-py39 \
#     -e MLRAY_WEBHOOK_SECRET=… -e RABBITMQ_URI=amqp://USER:PASSWORD@BROKER:5672/ mlray-worker
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first (cached while only sources change).
COPY Directory.Build.props Directory.Packages.props ./
COPY src/MLRay.Core/MLRay.Core.csproj src/MLRay.Core/
COPY src/MLRay.Pipeline/MLRay.Pipeline.csproj src/MLRay.Pipeline/
COPY src/MLRay.ServiceDefaults/MLRay.ServiceDefaults.csproj src/MLRay.ServiceDefaults/
COPY src/MLRay.Worker/MLRay.Worker.csproj src/MLRay.Worker/
RUN dotnet restore src/MLRay.Worker/MLRay.Worker.csproj
COPY src/MLRay.Core/ src/MLRay.Core/
COPY src/MLRay.Pipeline/ src/MLRay.Pipeline/
COPY src/MLRay.ServiceDefaults/ src/MLRay.ServiceDefaults/
COPY src/MLRay.Worker/ src/MLRay.Worker/
# Drop any bin/obj copied from a developer's tree (their project.assets.json names host paths).
RUN find src -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} + \
 && dotnet publish src/MLRay.Worker -c Release -o /app

# ASP.NET Core's runtime: Serilog.AspNetCore brings its shared framework.
FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app /app
ENV MLRAY_CONFIG=/config/config.yml \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
# The image's non-root user (uid 1654).
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/mlray-worker.dll"]
