/**
 * The app's frame: connect with an API key, then the pages — the segments list, the
 * builder (new, from a template, or a new version of a segment), a segment's page
 * and the explanation of a contact.
 *
 * Pages live in the address's hash (`#/segments/vip`), so any static host can serve
 * the app from one `index.html` and a page can be bookmarked or shared. The key is
 * kept for the browser tab only (sessionStorage), never in the address once used.
 */
import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { Link, Route, Router, Switch } from "wouter";

import { Api, type ConditionType, type Segment } from "./api";
import { loadConfiguredApi } from "./config";
import { AppContext } from "./context";
import { Segments } from "./pages/Segments";
import { useGuardedHashLocation } from "./unsaved";

// The segments list is the first page; every other page is fetched when first opened,
// so a first visit downloads the list's code only (the builder's form and tree
// libraries and the chart's are most of the app's size).
const Build = lazy(() => import("./pages/Build").then((module) => ({ default: module.Build })));
const BuildFromTemplate = lazy(() => import("./pages/Build").then((module) => ({ default: module.BuildFromTemplate })));
const EditSegment = lazy(() => import("./pages/Build").then((module) => ({ default: module.EditSegment })));
const Explain = lazy(() => import("./pages/Explain").then((module) => ({ default: module.Explain })));
const SegmentPage = lazy(() => import("./pages/Segment").then((module) => ({ default: module.SegmentPage })));
const Templates = lazy(() => import("./pages/Templates").then((module) => ({ default: module.Templates })));

const DEMO_KEYS = ["local-demo-key", "local-acme-key"];
const STORED = "growthos-segments-connection";

interface Connection {
  base: string;
  key: string;
}

/** The deployment's API (config.json; null: this page's origin), read before the first render. */
const CONFIGURED_API = (await loadConfiguredApi()) ?? window.location.origin;

/** The connection the address names (`?api=…&key=…`; the API by default: config.json's), else this tab's last one. */
function initialConnection(): Connection | null {
  const params = new URLSearchParams(window.location.search);
  const key = params.get("key");
  if (key) return { base: params.get("api") ?? CONFIGURED_API, key };
  const stored = window.sessionStorage.getItem(STORED);
  return stored ? (JSON.parse(stored) as Connection) : null;
}

/** Drops `?key=` from the address once it has connected (a shared or bookmarked address
 * must not carry a key; this tab keeps the connection in sessionStorage). */
function forgetKeyInAddress(): void {
  const url = new URL(window.location.href);
  if (!url.searchParams.has("key")) return;
  url.searchParams.delete("key");
  window.history.replaceState(window.history.state, "", url.href);
}

function ConnectionForm({ initial, onConnect }: { initial: Connection | null; onConnect: (connection: Connection) => void }) {
  const [base, setBase] = useState(initial?.base ?? CONFIGURED_API);
  const [key, setKey] = useState(initial?.key ?? DEMO_KEYS[0]);
  return (
    <form
      className="connection"
      onSubmit={(event) => {
        event.preventDefault();
        onConnect({ base, key });
      }}
    >
      <label>
        API <input aria-label="API URL" value={base} onChange={(event) => setBase(event.target.value)} />
      </label>
      <label>
        key <input aria-label="API key" list="demo-keys" value={key} onChange={(event) => setKey(event.target.value)} />
      </label>
      <datalist id="demo-keys">
        {DEMO_KEYS.map((demo) => (
          <option key={demo} value={demo} />
        ))}
      </datalist>
      <button type="submit">Connect</button>
    </form>
  );
}

function Pages() {
  return (
    <Suspense fallback={<p aria-busy="true">loading the page…</p>}>
    <Switch>
      <Route path="/" component={Segments} />
      <Route path="/new">{() => <Build key="new" />}</Route>
      <Route path="/new/template/:template">{(params) => <BuildFromTemplate key={params.template} template={params.template} />}</Route>
      <Route path="/templates">{() => <Templates />}</Route>
      <Route path="/segments/:id/edit">{(params) => <EditSegment key={params.id} id={params.id} />}</Route>
      <Route path="/segments/:id">{(params) => <SegmentPage id={params.id} />}</Route>
      <Route path="/explain">{() => <Explain />}</Route>
      <Route path="/explain/:segment/:contact?">{(params) => <Explain segment={params.segment} contact={params.contact} />}</Route>
      <Route>
        <p role="alert">No such page. <Link href="/">Back to the segments</Link></p>
      </Route>
    </Switch>
    </Suspense>
  );
}

export function App() {
  const [initial] = useState(initialConnection);
  const [connection, setConnection] = useState<Connection | null>(initial);
  const [loaded, setLoaded] = useState<{ api: Api; catalog: ConditionType[]; segments: Segment[] } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    if (connection === null) return;
    const api = new Api(connection.base, connection.key);
    setLoaded(null);
    setProblem(null);
    Promise.all([api.conditionTypes(), api.segments()]).then(
      ([catalog, segments]) => {
        window.sessionStorage.setItem(STORED, JSON.stringify(connection));
        forgetKeyInAddress();
        setLoaded({ api, catalog, segments });
      },
      (error: unknown) => setProblem((error as Error).message),
    );
  }, [connection]);

  const reloadSegments = useCallback(async () => {
    if (loaded === null) return;
    const segments = await loaded.api.segments();
    setLoaded({ ...loaded, segments });
  }, [loaded]);

  return (
    <Router hook={useGuardedHashLocation}>
      <header className="top">
        <h1>
          <Link href="/">Segments</Link>
        </h1>
        {loaded && (
          <nav aria-label="pages">
            <Link href="/">All segments</Link>
            <Link href="/new">New segment</Link>
            <Link href="/templates">Templates</Link>
            <Link href="/explain">Explain a contact</Link>
          </nav>
        )}
        <ConnectionForm initial={initial} onConnect={setConnection} />
      </header>
      <main>
        {problem && (
          <p className="node-errors" role="alert">
            {problem}
          </p>
        )}
        {loaded && (
          <AppContext.Provider key={`${loaded.api.base} ${loaded.api.key}`} value={{ ...loaded, reloadSegments }}>
            <Pages />
          </AppContext.Provider>
        )}
      </main>
    </Router>
  );
}
