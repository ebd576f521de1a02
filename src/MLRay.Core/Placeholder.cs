namespace MLRay; internal static class Placeholder {}
