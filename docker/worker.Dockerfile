# MLRay cluster worker (and router). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t mlray-worker .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/MLRay.Worker -c Release -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0
COPY --from=build /app /app
ENV MLRAY_CONFIG=/config/config.yml
# The cluster comes from MLRAY_CLUSTER (or --cluster NAME).
ENTRYPOINT ["dotnet", "/app/mlray-worker.dll"]
