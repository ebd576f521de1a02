# The MLflow webhook receiver. Build from the repository root:
#   docker build -f docker/receiver.Dockerfile -t mlray-receiver .
# Run with the config mounted at /config/config.yml (secrets from the environment or a .env next to it; the secret's
# variable is the config's receiver.webhook_secret_env, MLRAY_WEBHOOK_SECRET in config.example.yml and compose/config.yml):
#   docker run -p 8090:8090 -v $PWD/config.yml:/config/config.yml:ro \
#     -e MLRAY_WEBHOOK_SECRET=… -e RABBITMQ_URI=amqp://USER:PASSWORD@BROKER:5672/ mlray-receiver
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first (cached while only sources change).
COPY Directory.Build.props Directory.Packages.props ./
COPY src/MLRay.Core/MLRay.Core.csproj src/MLRay.Core/
COPY src/MLRay.Pipeline/MLRay.Pipeline.csproj src/MLRay.Pipeline/
COPY src/MLRay.ServiceDefaults/MLRay.ServiceDefaults.csproj src/MLRay.ServiceDefaults/
COPY src/MLRay.Receiver/MLRay.Receiver.csproj src/MLRay.Receiver/
RUN dotnet restore src/MLRay.Receiver/MLRay.Receiver.csproj
COPY src/MLRay.Core/ src/MLRay.Core/
COPY src/MLRay.Pipeline/ src/MLRay.Pipeline/
COPY src/MLRay.ServiceDefaults/ src/MLRay.ServiceDefaults/
COPY src/MLRay.Receiver/ src/MLRay.Receiver/
# Drop any bin/obj copied from a developer's tree (their project.assets.json names host paths).
RUN find src -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} + \
 && dotnet publish src/MLRay.Receiver/MLRay.Receiver.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app /app
ENV MLRAY_CONFIG=/config/config.yml \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
# The image's non-root user (uid 1654).
USER $APP_UID
EXPOSE 8090
ENTRYPOINT ["dotnet", "/app/mlray-receiver.dll", "--urls", "http://0.0.0.0:8090"]
