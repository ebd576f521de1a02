# The mlray CLI (deploy, plan, demo). Build from the repository root:
#   docker build -f docker/mlray.Dockerfile -t mlray .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/MLRay.Cli -c Release -o /app

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /work
COPY --from=build /app /app
ENTRYPOINT ["dotnet", "/app/mlray.dll"]
CMD ["--help"]
