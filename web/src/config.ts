/**
 * Where the app finds its API: `config.json`, served beside `index.html`.
 *
 * The committed file says `{"api": null}`: the API answers on the page's own origin, as
 * the local stack serves both. On AWS the deployer replaces it with the deployed API's
 * URL, so one build serves every deployment. `?api=` in the address still wins (see
 * App.tsx). The file is read once, before the first render, so the first request
 * already goes to the right place; an unreadable file leaves the page's origin, with a
 * warning, rather than no app at all.
 */

/** The API URL a parsed `config.json` names, or null for the page's own origin. */
export function configuredApi(config: unknown): string | null {
  if (typeof config !== "object" || config === null || !("api" in config)) {
    throw new Error('config.json: expected {"api": "<the API\'s URL>" or null}');
  }
  const api = (config as { api: unknown }).api;
  if (api === null) return null;
  if (typeof api !== "string" || !/^https?:\/\/[^/]/.test(api)) {
    throw new Error(`config.json: "api" must be an http(s) URL or null, not ${JSON.stringify(api)}`);
  }
  return api;
}

/** `config.json`'s API URL (null: this page's origin). */
export async function loadConfiguredApi(): Promise<string | null> {
  try {
    const response = await fetch("./config.json", { cache: "no-cache" });
    if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
    return configuredApi(await response.json());
  } catch (error) {
    console.warn(`${(error as Error).message}; using this page's origin as the API`);
    return null;
  }
}
