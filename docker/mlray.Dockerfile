# The mlray CLI (deploy, plan, undeploy, render, status, webhook, demo). Build from the repository root:
#   docker build -f docker/mlray.Dockerfile -t mlray .
# Compose runs it as `mlray` (on demand) and `webhook-register` (one-shot).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first (cached while only sources change).
COPY Directory.Build.props Directory.Packages.props ./
COPY src/MLRay.Core/MLRay.Core.csproj src/MLRay.Core/
COPY src/MLRay.Emulators/MLRay.Emulators.csproj src/MLRay.Emulators/
COPY src/MLRay.Pipeline/MLRay.Pipeline.csproj src/MLRay.Pipeline/
COPY src/MLRay.Receiver/MLRay.Receiver.csproj src/MLRay.Receiver/
COPY src/MLRay.ServiceDefaults/MLRay.ServiceDefaults.csproj src/MLRay.ServiceDefaults/
COPY src/MLRay.Cli/MLRay.Cli.csproj src/MLRay.Cli/
RUN dotnet restore src/MLRay.Cli/MLRay.Cli.csproj
COPY src/ src/
# Embedded in the CLI (mlray demo's seed models, the example config): see MLRay.Cli.csproj.
COPY examples/requirements.*.txt examples/
COPY config.example.yml ./
# Drop any bin/obj copied from a developer's tree (their project.assets.json names host paths).
RUN find src -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} + \
 && dotnet publish src/MLRay.Cli -c Release -o /app

# ASP.NET Core's runtime: the CLI hosts a real receiver in `mlray demo`.
FROM mcr.microsoft.com/dotnet/aspnet:10.0
# The app user's home: mlray demo and deploy write their working_dir relative to it.
WORKDIR /home/app
COPY --from=build /app /app
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1
# The image's non-root user (uid 1654).
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/mlray.dll"]
CMD ["--help"]
