namespace MLRay.Emulators; internal static class Placeholder {}
