/**
 * The builder page: build a rule, watch its size, save it.
 *
 * After every change, and a pause (a marketer typing a number should cost one request,
 * not one per keystroke), the rule is sized with each top-level condition alone and
 * checked against the fields the tenant has; a newer change cancels both requests in
 * flight so an old answer never overwrites a newer one. When the tenant has an
 * analytical copy, the same pause also asks for the exact count (shown instead of the
 * estimate once it answers) and, editing a saved segment, who would enter and exit.
 */
import { QueryBuilderDnD } from "@react-querybuilder/dnd";
import { useCallback, useEffect, useMemo, useState } from "react";
import * as ReactDnD from "react-dnd";
import * as ReactDndHtml5Backend from "react-dnd-html5-backend";
import { type Field, prepareRuleGroup, QueryBuilder, type RuleGroupType } from "react-querybuilder";
import { Link } from "wouter";

import { type Api, ApiError, type ConditionEstimate, type Estimate, inUseBy, type SavedAs } from "../api";
import { BuilderContext, ConditionPicker, defaultParams, GroupCombinator, ParamsEditor } from "../builder";
import { useApp } from "../context";
import { aloneByNode, JSONLOGIC, type Json, MATCHES, type Note, normalPointers, parseIds, place, queryToRule, ruleToQuery, SEGMENT } from "../rule";
import { type Completions, completionsOf } from "../schema";
import { InUseConfirm } from "../segment/Manage";
import { asOf, type ExactState, exactNote, explainHref, type ImpactState, impactSizes, impactSummary, missingExactNote, moreThanListed, showsExact, unavailableReason } from "./exactSize";
import { draftKey, guardedNavigate, justSaved, useLeaveGuard } from "../unsaved";
import "./build.css";

const DEBOUNCE_MS = 300;
const SEGMENT_TYPES = [
  ["shared", "shared: its own members, usable by other segments"],
  ["embedded", "embedded: evaluated inside the segments that use it"],
  ["pinned", "pinned: ANDed into every other segment"],
  ["static", "static: a fixed list of contacts"],
] as const;

/** A condition has one operator, "matches": its params carry the comparison. */
function NoOperator() {
  return null;
}

// The builder's fixed props are made once: react-querybuilder rebuilds its controls
// when they change, and a control rebuilt while a marketer types loses the focus.
const OPERATORS = [{ name: MATCHES, label: "matches" }];
const CLASSNAMES = { queryBuilder: "queryBuilder-branches" };
const CONTROLS = { fieldSelector: ConditionPicker, operatorSelector: NoOperator, valueEditor: ParamsEditor, combinatorSelector: GroupCombinator };
const DND = { ...ReactDnD, ...ReactDndHtml5Backend };

type EstimateState =
  | { kind: "idle" }
  | { kind: "loading"; previous?: Estimate }
  | { kind: "ready"; estimate: Estimate }
  | { kind: "invalid"; messages: string[] }
  | { kind: "failed"; message: string };

function EstimatePanel({ state, exact }: { state: EstimateState; exact: ExactState }) {
  let body;
  if (showsExact(exact, state.kind)) {
    return (
      <section className="estimate ready exact" aria-live="polite" data-testid="estimate">
        <span>
          <strong data-testid="estimate-value">{exact.count.count.toLocaleString()}</strong> contacts —{" "}
          <span data-testid="exact-note">{exactNote(exact.count, new Date())}</span>
        </span>
      </section>
    );
  }
  switch (state.kind) {
    case "idle":
      body = <span>add a condition to see the audience size</span>;
      break;
    case "loading":
      // The last size stays in view while the new one is computed, so the figure does not flicker.
      body = state.previous ? (
        <span>
          about <strong className="stale">{state.previous.estimate.toLocaleString()}</strong> contacts — updating…
        </span>
      ) : (
        <span>estimating…</span>
      );
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
  const missing = state.kind === "ready" ? missingExactNote(exact, state.estimate.exact) : null;
  return (
    <section className={`estimate ${state.kind}`} aria-live="polite" data-testid="estimate">
      {body}
      {missing && (
        <span className="exact-unavailable" data-testid="exact-unavailable">
          {" "}
          — {missing}
        </span>
      )}
    </section>
  );
}

/** Contact ids, each linking to why it is (or is not) a member of the segment. */
function Examples({ segmentId, ids, total, label }: { segmentId: string; ids: string[]; total: number; label: string }) {
  if (total === 0) return null;
  const more = moreThanListed(total, ids.length);
  return (
    <p className="impact-examples" data-testid={`impact-${label.split(" ")[1]}`}>
      {label}:{" "}
      {ids.map((contact, index) => (
        <span key={contact}>
          {index > 0 && ", "}
          <Link href={explainHref(segmentId, contact)}>{contact}</Link>
        </span>
      ))}
      {more && ` ${more}`}
    </p>
  );
}

/** Before saving a new version: who would enter and who would leave, exactly, from the copy. */
function ImpactPanel({ segmentId, state }: { segmentId: string; state: ImpactState }) {
  if (state.kind === "none") return null;
  if (state.kind === "unavailable") {
    return (
      <section className="impact unavailable" data-testid="impact">
        Impact of saving: not available — {state.reason}
      </section>
    );
  }
  const impact = state.kind === "ready" ? state.impact : state.previous;
  if (impact === undefined) {
    return (
      <section className="impact loading" data-testid="impact">
        Impact of saving: computing…
      </section>
    );
  }
  return (
    <section className={`impact ${state.kind}`} aria-live="polite" data-testid="impact">
      <strong>Impact of saving:</strong> <span data-testid="impact-summary">{impactSummary(impact)}</span> — {impactSizes(impact)}
      {state.kind === "loading" && " (updating…)"}
      <span className="impact-freshness">
        exact, {asOf(impact.as_of, new Date())}
        {impact.path === "per-contact" ? ", evaluated contact by contact" : ""}
      </span>
      <Examples segmentId={segmentId} ids={impact.enter_examples} total={impact.would_enter} label="would enter" />
      <Examples segmentId={segmentId} ids={impact.exit_examples} total={impact.would_exit} label="would exit" />
    </section>
  );
}

/** What the builder starts from: nothing, a template, or the current version of a segment. */
export interface Draft {
  id?: string;
  name?: string;
  description?: string;
  type?: string;
  rule: Json | null;
  include_contacts?: string[];
  exclude_contacts?: string[];
  exclude_segments?: string[];
  /** The version being edited: saving sends it, and a newer one on the server is a 409. */
  version?: number;
  /** The name of the template it starts from. */
  template?: string;
  /** The version a save just created, when the builder opens right after it. */
  saved?: { id: string; version: number };
}

/** The builder; "Discard changes" starts it again from what it was opened with. */
export function Build({ initial = { rule: null }, reload }: { initial?: Draft; reload?: () => void }) {
  const [round, setRound] = useState(0);
  return <Editor key={round} initial={round === 0 ? initial : { ...initial, saved: undefined }} reload={reload} discard={() => setRound((count) => count + 1)} />;
}

function Editor({ initial, reload, discard }: { initial: Draft; reload?: () => void; discard: () => void }) {
  const { api, catalog, segments, reloadSegments } = useApp();
  const names = useMemo(() => catalog.map((entry) => entry.name), [catalog]);
  // Every node gets its id here: react-querybuilder keys its components by id, and a
  // node without one is given a new id on every change, which remounts the condition
  // (and takes the focus from the field a marketer is typing in).
  const [query, setQuery] = useState<RuleGroupType>(() => prepareRuleGroup(ruleToQuery(initial.rule, names)));
  const [estimate, setEstimate] = useState<EstimateState>({ kind: "idle" });
  const [exactAvailable, setExactAvailable] = useState(false);
  const [exact, setExact] = useState<ExactState>({ kind: "none" });
  const [impact, setImpact] = useState<ImpactState>({ kind: "none" });
  const [errors, setErrors] = useState<Map<string, Note[]>>(new Map());
  const [warnings, setWarnings] = useState<Map<string, Note[]>>(new Map());
  const [alone, setAlone] = useState<Map<string, ConditionEstimate>>(new Map());
  const [completions, setCompletions] = useState<Completions | undefined>(undefined);
  const [jsonText, setJsonText] = useState<string | null>(null);
  const [jsonProblem, setJsonProblem] = useState<string | null>(null);
  const [id, setId] = useState(initial.id ?? "");
  const [name, setName] = useState(initial.name ?? "");
  const [description, setDescription] = useState(initial.description ?? "");
  const [type, setType] = useState(initial.type ?? "shared");
  const [includeText, setIncludeText] = useState((initial.include_contacts ?? []).join("\n"));
  const [excludeText, setExcludeText] = useState((initial.exclude_contacts ?? []).join("\n"));
  const [excludeSegments, setExcludeSegments] = useState<string[]>(initial.exclude_segments ?? []);
  const [version, setVersion] = useState(initial.version);
  const [saved, setSaved] = useState<{ id: string; version: number } | null>(initial.saved ?? null);
  const [saveProblem, setSaveProblem] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  /** The modules a save would change the segment under, once the API asked to confirm it. */
  const [users, setUsers] = useState<string[] | null>(null);
  const exported = useMemo(() => queryToRule(query), [query]);
  const normal = useMemo(() => normalPointers(query), [query]);
  const ruleText = useMemo(() => JSON.stringify(exported.rule, null, 2), [exported]);
  const isStatic = type === "static";
  const fieldsKey = draftKey({ id, name, description, type, rule: exported.rule, includeText, excludeText, excludeSegments });
  // What was opened (or last saved): the first render's fields, the rule as the tree exports it.
  const [savedKey, setSavedKey] = useState(fieldsKey);
  const unsaved = fieldsKey !== savedKey;
  useLeaveGuard(unsaved);

  useEffect(() => {
    const controller = new AbortController();
    api.fields(controller.signal).then(
      (fields) => setCompletions(completionsOf(fields)),
      () => undefined, // field help is a convenience: without it the builder works as before
    );
    return () => controller.abort();
  }, [api]);

  useEffect(() => {
    const controller = new AbortController();
    api.copyStatus(controller.signal).then(
      (status) => setExactAvailable(status.available),
      () => undefined, // without it the builder shows the estimate alone, as before
    );
    return () => controller.abort();
  }, [api]);

  // The manual picks as the estimate and the exact count take them, a new value only when the ids change.
  const picksKey = JSON.stringify([parseIds(includeText), parseIds(excludeText), excludeSegments]);
  const savedAs: SavedAs = useMemo(() => {
    const [include_contacts, exclude_contacts, exclude_segments] = JSON.parse(picksKey) as string[][];
    return { type: type as SavedAs["type"], include_contacts, exclude_contacts, exclude_segments };
  }, [type, picksKey]);

  useEffect(() => {
    setErrors(new Map());
    setWarnings(new Map());
    setAlone(new Map());
    setExact({ kind: "none" });
    if (exported.rule === null || isStatic) {
      setEstimate({ kind: "idle" });
      return;
    }
    const rule = exported.rule;
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      setEstimate((last) => ({ kind: "loading", previous: last.kind === "ready" ? last.estimate : last.kind === "loading" ? last.previous : undefined }));
      api.estimate(rule, controller.signal, true, savedAs).then(
        (result) => {
          setAlone(aloneByNode(result.per_condition, exported.pointers));
          setEstimate({ kind: "ready", estimate: result });
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          if (error instanceof ApiError && error.status === 422) {
            const [byNode, elsewhere] = place(error.errors, exported.pointers, true);
            setErrors(byNode);
            setEstimate({ kind: "invalid", messages: elsewhere });
          } else {
            setEstimate({ kind: "failed", message: (error as Error).message });
          }
        },
      );
      api.validate(rule, controller.signal).then(
        (result) => setWarnings(place(result.warnings ?? [], normal, false)[0]),
        () => undefined, // the estimate's answer already shows what is wrong with the rule
      );
      if (exactAvailable) {
        api.countRule(rule, controller.signal, savedAs).then(
          (count) => setExact({ kind: "ready", count }),
          (error: unknown) => {
            if (!controller.signal.aborted) setExact({ kind: "unavailable", reason: unavailableReason(error) });
          },
        );
      }
    }, DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [api, exported, normal, isStatic, savedAs, exactAvailable]);

  // The impact of saving this version: only for a saved segment with a rule, on the same pause.
  const editing = version !== undefined && !isStatic && exactAvailable ? id : null;
  useEffect(() => {
    if (editing === null || exported.rule === null) {
      setImpact({ kind: "none" });
      return;
    }
    const edit = { rule: exported.rule, type, exclude_segments: excludeSegments, include_contacts: parseIds(includeText), exclude_contacts: parseIds(excludeText) };
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      setImpact((last) => ({ kind: "loading", previous: last.kind === "ready" ? last.impact : last.kind === "loading" ? last.previous : undefined }));
      api.impact(editing, edit, controller.signal).then(
        (result) => setImpact({ kind: "ready", impact: result }),
        (error: unknown) => {
          if (!controller.signal.aborted) setImpact({ kind: "unavailable", reason: unavailableReason(error) });
        },
      );
    }, DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [api, editing, exported, type, excludeSegments, includeText, excludeText]);

  const fields: Field[] = useMemo(
    () => [...catalog.map((entry) => ({ name: entry.name, label: entry.label })), { name: SEGMENT, label: "In another segment" }, { name: JSONLOGIC, label: "Plain JsonLogic" }],
    [catalog],
  );

  const getDefaultValue = useCallback(({ field }: { field: string }) => defaultParams(field, catalog), [catalog]);

  const applyJson = () => {
    try {
      const text = jsonText ?? ruleText;
      setQuery(prepareRuleGroup(ruleToQuery(text.trim() === "" ? null : (JSON.parse(text) as Json), names)));
      setJsonText(null);
      setJsonProblem(null);
    } catch (error) {
      setJsonProblem(`not JSON: ${(error as Error).message}`);
    }
  };

  const save = async (confirm = false) => {
    setSaved(null);
    setSaveProblem(null);
    setConflict(false);
    setUsers(null);
    const body = {
      ...(id.trim() ? { id: id.trim() } : {}),
      name,
      description,
      type,
      include_contacts: parseIds(includeText),
      exclude_contacts: isStatic ? [] : parseIds(excludeText),
      exclude_segments: isStatic ? [] : excludeSegments,
      ...(isStatic || exported.rule === null ? {} : { rule: exported.rule }),
    };
    const sent = fieldsKey;
    try {
      const segment = await api.save(body, version, confirm);
      void reloadSegments();
      const justSaved = { id: segment.id, version: segment.version };
      if (version === undefined) {
        // A new segment is edited at its own address from now on (a reload shows it, and
        // the next save is its new version); Back goes where the marketer came from.
        guardedNavigate(editHref(segment.id), { replace: true, state: { saved: justSaved }, guarded: false });
        return;
      }
      setVersion(segment.version);
      setSaved(justSaved);
      setSavedKey(sent);
    } catch (error) {
      if (inUseBy(error)) {
        setUsers(inUseBy(error));
      } else if (error instanceof ApiError && error.status === 409 && version !== undefined) {
        setConflict(true);
      } else if (error instanceof ApiError) {
        const [byNode, elsewhere] = place(error.errors, exported.pointers, true);
        if (byNode.size > 0) setErrors(byNode);
        setSaveProblem([error.message, ...elsewhere].join("; "));
      } else {
        setSaveProblem((error as Error).message);
      }
    }
  };

  const others = segments.filter((segment) => segment.id !== id && segment.status !== "archived");

  return (
    <BuilderContext.Provider value={{ catalog, segments, editing: version === undefined ? undefined : id, completions, errors, warnings, alone }}>
      <h2>
        {version !== undefined ? `Edit ${name || id} (version ${version})` : initial.template ? `New segment from the template “${initial.template}”` : "New segment"}
      </h2>
      {!isStatic && <EstimatePanel state={estimate} exact={exact} />}
      {editing !== null && <ImpactPanel segmentId={editing} state={impact} />}
      {isStatic ? (
        <p className="static-note">A static segment has no rule: its members are the contacts listed below.</p>
      ) : (
        <>
          <QueryBuilderDnD dnd={DND}>
            <QueryBuilder
              fields={fields}
              query={query}
              onQueryChange={setQuery}
              operators={OPERATORS}
              autoSelectField={false}
              getDefaultValue={getDefaultValue}
              showNotToggle
              showShiftActions
              enableDragAndDrop
              controlClassnames={CLASSNAMES}
              controlElements={CONTROLS}
            />
          </QueryBuilderDnD>
          <details className="json-view">
            <summary>JSON</summary>
            <textarea aria-label="rule JSON" rows={12} value={jsonText ?? ruleText} onChange={(event) => setJsonText(event.target.value)} />
            <button type="button" onClick={applyJson}>
              Apply JSON
            </button>
            {jsonProblem && <span className="node-errors">{jsonProblem}</span>}
          </details>
        </>
      )}
      <form
        className="save-segment"
        aria-label="save the segment"
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <div className="save-row">
          <label>
            Id
            <input name="id" aria-label="segment id" placeholder="generated when empty" value={id} onChange={(e) => setId(e.target.value)} readOnly={version !== undefined} />
          </label>
          <label>
            Name
            <input name="name" aria-label="segment name" required value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Type
            <select name="type" aria-label="segment type" value={type} onChange={(e) => setType(e.target.value)}>
              {SEGMENT_TYPES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label className="wide">
          Description
          <textarea aria-label="segment description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        {isStatic ? (
          <label className="wide">
            Contacts (one id per line)
            <textarea aria-label="contacts of the static segment" rows={5} value={includeText} onChange={(e) => setIncludeText(e.target.value)} />
          </label>
        ) : (
          <details className="manual" open={includeText !== "" || excludeText !== "" || excludeSegments.length > 0 || undefined}>
            <summary>Manual include / exclude</summary>
            <div className="save-row">
              <label>
                Always include (contact ids)
                <textarea aria-label="always include contacts" rows={3} value={includeText} onChange={(e) => setIncludeText(e.target.value)} />
              </label>
              <label>
                Always exclude (contact ids)
                <textarea aria-label="always exclude contacts" rows={3} value={excludeText} onChange={(e) => setExcludeText(e.target.value)} />
              </label>
              <label>
                Exclude members of
                <select
                  multiple
                  aria-label="exclude segments"
                  value={excludeSegments}
                  onChange={(e) => setExcludeSegments([...e.target.selectedOptions].map((option) => option.value))}
                >
                  {excludeSegments
                    .filter((sid) => !others.some((segment) => segment.id === sid))
                    .map((sid) => (
                      <option key={sid} value={sid}>
                        {sid}
                      </option>
                    ))}
                  {others.map((segment) => (
                    <option key={segment.id} value={segment.id}>
                      {segment.name}
                    </option>
                  ))}
                </select>
              </label>
            </div>
          </details>
        )}
        <div className="save-row">
          <button type="submit">{version === undefined ? "Save" : "Save a new version"}</button>
          {unsaved && (
            <button type="button" className="discard" onClick={discard}>
              Discard changes
            </button>
          )}
          {saved && (
            <output data-testid="save-result" role="status">
              saved {saved.id} (version {saved.version}) — <Link href={`/segments/${encodeURIComponent(saved.id)}`}>open its page</Link>
            </output>
          )}
          {saveProblem && (
            <p className="node-errors" role="alert" data-testid="save-problem">
              not saved: {saveProblem}
            </p>
          )}
          {users && (
            <InUseConfirm
              users={users}
              consequence="Saving changes who they reach"
              action="Save anyway"
              testId="save-confirm"
              onConfirm={() => void save(true)}
              onCancel={() => setUsers(null)}
            />
          )}
          {conflict && (
            <p className="conflict" role="alert" data-testid="save-conflict">
              Not saved: this segment was changed by someone else since you opened it.{" "}
              {reload && (
                <button type="button" onClick={reload}>
                  Reload
                </button>
              )}{" "}
              (reloading shows their version; your changes here are dropped)
            </p>
          )}
        </div>
      </form>
    </BuilderContext.Provider>
  );
}

/** Loads what a draft starts from, then shows the builder with it; `reload` loads it again. */
function Loaded({ load }: { load: (api: Api) => Promise<Draft> }) {
  const { api } = useApp();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [loads, setLoads] = useState(0);
  useEffect(() => {
    setDraft(null);
    load(api).then(setDraft, (error: unknown) => setProblem((error as Error).message));
  }, [api, load, loads]);
  if (problem) return <p role="alert">{problem}</p>;
  return draft === null ? <p>loading…</p> : <Build key={loads} initial={draft} reload={() => setLoads((count) => count + 1)} />;
}

export function BuildFromTemplate({ template }: { template: string }) {
  const load = useCallback(
    async (api: Api): Promise<Draft> => {
      const found = (await api.templates()).find((entry) => entry.id === template);
      if (found === undefined) throw new Error(`no template ${template}`);
      return { name: found.name, description: found.description, rule: found.rule, template: found.name };
    },
    [template],
  );
  return <Loaded load={load} />;
}

/** The builder's address for a new version of segment `id`. */
export function editHref(id: string): string {
  return `/segments/${encodeURIComponent(id)}/edit`;
}

export function EditSegment({ id }: { id: string }) {
  const load = useCallback(
    async (api: Api): Promise<Draft> => {
      const segment = await api.segment(id);
      const saved = justSaved(window.history.state, segment.id, segment.version);
      return {
        id: segment.id,
        name: segment.name,
        description: segment.description,
        type: segment.type,
        rule: (segment.rule ?? null) as Json,
        include_contacts: segment.include_contacts,
        exclude_contacts: segment.exclude_contacts,
        exclude_segments: segment.exclude_segments,
        version: segment.version,
        ...(saved ? { saved } : {}),
      };
    },
    [id],
  );
  return <Loaded load={load} />;
}
