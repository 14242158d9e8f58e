/**
 * The builder page: build a rule, watch its size, save it.
 *
 * The estimate follows every change after a pause (a marketer typing a number should
 * cost one request, not one per keystroke), and a newer change cancels the request
 * in flight so an old answer never overwrites a newer one.
 */
import { QueryBuilderDnD } from "@react-querybuilder/dnd";
import { useCallback, useEffect, useMemo, useState } from "react";
import * as ReactDnD from "react-dnd";
import * as ReactDndHtml5Backend from "react-dnd-html5-backend";
import { type Field, QueryBuilder, type RuleGroupType } from "react-querybuilder";

import { ApiError, type Estimate } from "../api";
import { BuilderContext, ConditionPicker, defaultParams, GroupCombinator, ParamsEditor } from "../builder";
import { useApp } from "../context";
import { JSONLOGIC, type Json, MATCHES, nodeForPointer, queryToRule, rulePointer, ruleToQuery, SEGMENT } from "../rule";

const DEBOUNCE_MS = 300;
const SEGMENT_TYPES = ["shared", "embedded", "pinned", "static"];

type EstimateState =
  | { kind: "idle" }
  | { kind: "loading" }
  | { kind: "ready"; estimate: Estimate }
  | { kind: "invalid"; messages: string[] }
  | { kind: "failed"; message: string };

function EstimatePanel({ state }: { state: EstimateState }) {
  let body;
  switch (state.kind) {
    case "idle":
      body = <span>add a condition to see the audience size</span>;
      break;
    case "loading":
      body = <span>estimating…</span>;
      break;
    case "ready": {
      const { estimate, low, high, confidence, exact, sample_size, population } = state.estimate;
      body = exact ? (
        <span>
          <strong data-testid="estimate-value">{estimate.toLocaleString()}</strong> contacts (exact, all {population.toLocaleString()} evaluated)
        </span>
      ) : (
        <span>
          about <strong data-testid="estimate-value">{estimate.toLocaleString()}</strong> contacts,{" "}
          {Math.round(confidence * 100)} % interval {low.toLocaleString()}–{high.toLocaleString()} (sample of {sample_size.toLocaleString()} of{" "}
          {population.toLocaleString()})
        </span>
      );
      break;
    }
    case "invalid":
      body = <span>the rule has errors, shown on its conditions{state.messages.length > 0 && `: ${state.messages.join("; ")}`}</span>;
      break;
    case "failed":
      body = <span>{state.message}</span>;
  }
  return (
    <section className={`estimate ${state.kind}`} aria-live="polite" data-testid="estimate">
      {body}
    </section>
  );
}

/** What the builder starts from: nothing, a template, or the current version of a segment. */
export interface Draft {
  id?: string;
  name?: string;
  type?: string;
  rule: Json | null;
  /** The version being edited: saving sends it, and a newer one on the server is a 409. */
  version?: number;
}

export function Build({ initial = { rule: null } }: { initial?: Draft }) {
  const { api, catalog, segments } = useApp();
  const names = useMemo(() => catalog.map((entry) => entry.name), [catalog]);
  const [query, setQuery] = useState<RuleGroupType>(() => ruleToQuery(initial.rule, names));
  const [estimate, setEstimate] = useState<EstimateState>({ kind: "idle" });
  const [errors, setErrors] = useState<Map<string, string[]>>(new Map());
  const [jsonText, setJsonText] = useState<string | null>(null);
  const [jsonProblem, setJsonProblem] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const exported = useMemo(() => queryToRule(query), [query]);
  const ruleText = useMemo(() => JSON.stringify(exported.rule, null, 2), [exported]);

  /** Puts the API's errors on the nodes they name; returns those that name no node. */
  const placeErrors = useCallback(
    (details: ApiError["errors"]) => {
      const byNode = new Map<string, string[]>();
      const elsewhere: string[] = [];
      for (const detail of details) {
        const pointer = rulePointer(detail.path);
        const node = pointer === null ? null : nodeForPointer(exported.pointers, pointer);
        const message = detail.suggestion ? `${detail.path}: ${detail.message} (${detail.suggestion})` : `${detail.path}: ${detail.message}`;
        if (node === null) elsewhere.push(message);
        else byNode.set(node, [...(byNode.get(node) ?? []), message]);
      }
      setErrors(byNode);
      return elsewhere;
    },
    [exported],
  );

  useEffect(() => {
    if (exported.rule === null) {
      setEstimate({ kind: "idle" });
      setErrors(new Map());
      return;
    }
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      setEstimate({ kind: "loading" });
      api.estimate(exported.rule as Json, controller.signal).then(
        (result) => {
          setErrors(new Map());
          setEstimate({ kind: "ready", estimate: result });
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          if (error instanceof ApiError && error.status === 422) {
            setEstimate({ kind: "invalid", messages: placeErrors(error.errors) });
          } else {
            setEstimate({ kind: "failed", message: (error as Error).message });
          }
        },
      );
    }, DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [api, exported, placeErrors]);

  const fields: Field[] = useMemo(
    () => [...catalog.map((entry) => ({ name: entry.name, label: entry.label })), { name: SEGMENT, label: "In another segment" }, { name: JSONLOGIC, label: "Plain JsonLogic" }],
    [catalog],
  );

  const applyJson = () => {
    try {
      const text = jsonText ?? ruleText;
      setQuery(ruleToQuery(text.trim() === "" ? null : (JSON.parse(text) as Json), names));
      setJsonText(null);
      setJsonProblem(null);
    } catch (error) {
      setJsonProblem(`not JSON: ${(error as Error).message}`);
    }
  };

  const save = async (form: HTMLFormElement) => {
    const data = new FormData(form);
    setSaved(null);
    try {
      const segment = await api.save(
        {
          ...(String(data.get("id")) ? { id: String(data.get("id")) } : {}),
          name: String(data.get("name")),
          type: String(data.get("type")),
          ...(exported.rule === null ? {} : { rule: exported.rule }),
        },
        initial.version,
      );
      setSaved(`saved ${segment.id} (version ${segment.version})`);
    } catch (error) {
      if (error instanceof ApiError) {
        const elsewhere = placeErrors(error.errors);
        setSaved(`not saved: ${[error.message, ...elsewhere].join("; ")}`);
      } else {
        setSaved(`not saved: ${(error as Error).message}`);
      }
    }
  };

  return (
    <BuilderContext.Provider value={{ catalog, segments, errors }}>
      <EstimatePanel state={estimate} />
      <QueryBuilderDnD dnd={{ ...ReactDnD, ...ReactDndHtml5Backend }}>
        <QueryBuilder
          fields={fields}
          query={query}
          onQueryChange={setQuery}
          operators={[{ name: MATCHES, label: "matches" }]}
          autoSelectField={false}
          getDefaultValue={({ field }) => defaultParams(field, catalog)}
          showNotToggle
          showShiftActions
          enableDragAndDrop
          controlClassnames={{ queryBuilder: "queryBuilder-branches" }}
          controlElements={{
            fieldSelector: ConditionPicker,
            operatorSelector: () => null,
            valueEditor: ParamsEditor,
            combinatorSelector: GroupCombinator,
          }}
        />
      </QueryBuilderDnD>
      <details className="json-view">
        <summary>JSON</summary>
        <textarea
          aria-label="rule JSON"
          rows={12}
          value={jsonText ?? ruleText}
          onChange={(event) => setJsonText(event.target.value)}
        />
        <button type="button" onClick={applyJson}>
          Apply JSON
        </button>
        {jsonProblem && <span className="node-errors">{jsonProblem}</span>}
      </details>
      <form
        className="save"
        onSubmit={(event) => {
          event.preventDefault();
          void save(event.currentTarget);
        }}
      >
        <input name="id" aria-label="segment id" placeholder="id (optional)" defaultValue={initial.id} readOnly={initial.version !== undefined} />
        <input name="name" aria-label="segment name" placeholder="name" required defaultValue={initial.name} />
        <select name="type" aria-label="segment type" defaultValue={initial.type ?? "shared"}>
          {SEGMENT_TYPES.map((type) => (
            <option key={type}>{type}</option>
          ))}
        </select>
        <button type="submit">Save</button>
        {saved && (
          <output data-testid="save-result" role="status">
            {saved}
          </output>
        )}
      </form>
    </BuilderContext.Provider>
  );
}


/** Loads what a draft starts from, then shows the builder with it. */
function Loaded({ load }: { load: (api: ReturnType<typeof useApp>["api"]) => Promise<Draft> }) {
  const { api } = useApp();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    load(api).then(setDraft, (error: unknown) => setProblem((error as Error).message));
  }, [api, load]);
  if (problem) return <p role="alert">{problem}</p>;
  return draft === null ? <p>loading…</p> : <Build initial={draft} />;
}

export function BuildFromTemplate({ template }: { template: string }) {
  const load = useCallback(
    async (api: ReturnType<typeof useApp>["api"]): Promise<Draft> => {
      const found = (await api.templates()).find((entry) => entry.id === template);
      if (found === undefined) throw new Error(`no template ${template}`);
      return { id: found.id, name: found.name, rule: found.rule };
    },
    [template],
  );
  return <Loaded load={load} />;
}

export function EditSegment({ id }: { id: string }) {
  const load = useCallback(
    async (api: ReturnType<typeof useApp>["api"]): Promise<Draft> => {
      const segment = await api.segment(id);
      return { id: segment.id, name: segment.name, type: segment.type, rule: (segment.rule ?? null) as Json, version: segment.version };
    },
    [id],
  );
  return <Loaded load={load} />;
}
