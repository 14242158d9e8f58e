import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The app is served from the API's own origin (the local stack serves web/dist at /),
// so every asset path is relative to the page.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
