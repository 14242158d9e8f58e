/**
 * The parts react-querybuilder draws with the engine's vocabulary: a condition
 * picker from the catalog, a params form generated from each type's JSON Schema,
 * segment references from the tenant's segments, JSON for plain JsonLogic, and the
 * errors the API reported on the node their pointer names.
 */
import Form from "@rjsf/core";
import type { RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { createContext, useContext, useMemo, useState } from "react";
import type { CombinatorSelectorProps, FieldSelectorProps, ValueEditorProps } from "react-querybuilder";
import { ValueSelector } from "react-querybuilder";

import type { ConditionType, SegmentSummary } from "./api";
import { JSONLOGIC, type Json, type JsonObject, SEGMENT } from "./rule";
import { formSchema } from "./schema";

export interface BuilderState {
  catalog: ConditionType[];
  segments: SegmentSummary[];
  /** API error messages by tree node path ("" is the root, "1.0" the first child of the second). */
  errors: Map<string, string[]>;
}

export const BuilderContext = createContext<BuilderState>({ catalog: [], segments: [], errors: new Map() });

/** What a new rule of this type starts with: the type's first example, so it is valid at once. */
export function defaultParams(type: string, catalog: ConditionType[]): Json {
  if (type === JSONLOGIC) return { in: ["vip", { var: "tags" }] };
  if (type === SEGMENT) return { id: "" };
  const example = catalog.find((entry) => entry.name === type)?.examples[0];
  return example ? example[type] : {};
}

function NodeErrors({ path }: { path: number[] }) {
  const messages = useContext(BuilderContext).errors.get(path.join("."));
  if (!messages?.length) return null;
  return (
    <ul className="node-errors" role="alert" data-testid={`errors-${path.join(".") || "root"}`}>
      {messages.map((message) => (
        <li key={message}>{message}</li>
      ))}
    </ul>
  );
}

/** Condition types by category, filtered by a search over name, label and description. */
export function ConditionPicker({ value, handleOnChange, path, disabled }: FieldSelectorProps) {
  const { catalog } = useContext(BuilderContext);
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const shown = catalog.filter((entry) =>
    [entry.name, entry.label, entry.description].some((text) => text.toLowerCase().includes(needle)),
  );
  const categories = [...new Set(shown.map((entry) => entry.category))];
  const chosen = catalog.find((entry) => entry.name === value);
  const id = `type-${path.join("-")}`;
  return (
    <span className="condition-picker">
      <input
        type="search"
        placeholder="search condition types"
        aria-label="search condition types"
        value={search}
        disabled={disabled}
        onChange={(event) => setSearch(event.target.value)}
      />
      <select
        id={id}
        aria-label="condition type"
        value={value ?? "~"}
        disabled={disabled}
        onChange={(event) => handleOnChange(event.target.value)}
      >
        <option value="~" disabled>
          choose a condition…
        </option>
        {categories.map((category) => (
          <optgroup key={category} label={category}>
            {shown
              .filter((entry) => entry.category === category)
              .map((entry) => (
                <option key={entry.name} value={entry.name} title={entry.description}>
                  {entry.label}
                </option>
              ))}
          </optgroup>
        ))}
        <optgroup label="other">
          <option value={SEGMENT}>In another segment</option>
          <option value={JSONLOGIC}>Plain JsonLogic</option>
        </optgroup>
      </select>
      {chosen && <small className="description">{chosen.description}</small>}
    </span>
  );
}

function JsonLogicEditor({ value, onChange }: { value: Json; onChange: (value: Json) => void }) {
  const [text, setText] = useState(() => JSON.stringify(value, null, 1));
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <span className="jsonlogic">
      <textarea
        aria-label="JsonLogic"
        rows={3}
        value={text}
        onChange={(event) => {
          setText(event.target.value);
          try {
            onChange(JSON.parse(event.target.value) as Json);
            setProblem(null);
          } catch (error) {
            setProblem(`not JSON: ${(error as Error).message}`);
          }
        }}
      />
      {problem && <small className="node-errors">{problem}</small>}
    </span>
  );
}

function SegmentChooser({ value, onChange }: { value: JsonObject; onChange: (value: Json) => void }) {
  const { segments } = useContext(BuilderContext);
  return (
    <select aria-label="segment" value={String(value?.id ?? "")} onChange={(event) => onChange({ id: event.target.value })}>
      <option value="">choose a segment…</option>
      {segments.map((segment) => (
        <option key={segment.id} value={segment.id}>
          {segment.name} ({segment.id})
        </option>
      ))}
    </select>
  );
}

function ParamsForm({ type, value, onChange, node }: { type: ConditionType; value: JsonObject; onChange: (value: Json) => void; node: string }) {
  const schema = useMemo(() => formSchema(type.schema) as RJSFSchema, [type]);
  return (
    <span className="params">
      {type.examples.length > 0 && (
        <select
          aria-label="presets"
          value=""
          onChange={(event) => onChange(type.examples[Number(event.target.value)][type.name])}
        >
          <option value="">presets…</option>
          {type.examples.map((example, index) => (
            <option key={index} value={index}>
              {JSON.stringify(example[type.name])}
            </option>
          ))}
        </select>
      )}
      <Form
        schema={schema}
        formData={value}
        validator={validator}
        experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipDefaults" }}
        onChange={(event) => onChange((event.formData ?? {}) as Json)}
        uiSchema={{ "ui:submitButtonOptions": { norender: true } }}
        tagName="div"
        idPrefix={`node${node}`}
      />
    </span>
  );
}

/** The value of a rule: the params of its condition type, a segment, or JsonLogic. */
export function ParamsEditor({ field, value, handleOnChange, path }: ValueEditorProps) {
  const { catalog } = useContext(BuilderContext);
  const type = catalog.find((entry) => entry.name === field);
  let editor = null;
  if (field === JSONLOGIC) editor = <JsonLogicEditor value={value as Json} onChange={handleOnChange} />;
  else if (field === SEGMENT) editor = <SegmentChooser value={value as JsonObject} onChange={handleOnChange} />;
  else if (type) editor = <ParamsForm key={field} type={type} value={value as JsonObject} onChange={handleOnChange} node={path.join("_")} />;
  return (
    <span className="value" data-testid={`node-${path.join(".")}`}>
      {editor}
      <NodeErrors path={path} />
    </span>
  );
}

/** AND / OR of a group, with the errors the API reported on the group itself. */
export function GroupCombinator(props: CombinatorSelectorProps) {
  return (
    <span className="combinator" data-testid={`group-${props.path.join(".") || "root"}`}>
      <ValueSelector {...props} />
      <NodeErrors path={props.path} />
    </span>
  );
}
