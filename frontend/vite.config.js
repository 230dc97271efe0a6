import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The build goes to dist/, which the server embeds. Assets live under /ui/ so they
// never meet the API's paths; the dev server forwards the API to a local Strata.
export default defineConfig({
  plugins: [svelte()],
  base: '/',
  build: { outDir: 'dist', assetsDir: 'ui', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true } } },
});
