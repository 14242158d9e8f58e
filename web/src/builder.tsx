/**
 * The parts react-querybuilder draws with the engine's vocabulary: a condition
 * picker from the catalog, a params form generated from each type's JSON Schema,
 * segment references from the tenant's segments, JSON for plain JsonLogic, and on
 * each node what the API said about it: errors, warnings and its size alone.
 */
import Form from "@rjsf/core";
import { ADDITIONAL_PROPERTY_FLAG, canExpand } from "@rjsf/utils";
import type { ArrayFieldTemplateProps, FieldTemplateProps, IconButtonProps, MultiSchemaFieldTemplateProps, ObjectFieldTemplateProps, RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { createContext, useContext, useMemo, useState } from "react";
import type { CombinatorSelectorProps, FieldSelectorProps, ValueEditorProps } from "react-querybuilder";
import { ValueSelector } from "react-querybuilder";

import type { ConditionEstimate, ConditionType, SegmentSummary } from "./api";
import { JSONLOGIC, type Json, type JsonObject, type Note, SEGMENT } from "./rule";
import { type Completions, describeParams, fieldHint, formSchema, humanize, pruneToBranch } from "./schema";

export interface BuilderState {
  catalog: ConditionType[];
  segments: SegmentSummary[];
  /** The segment being edited: it cannot reference itself. */
  editing?: string;
  completions?: Completions;
  /** API errors and warnings by tree node path ("" is the root, "1.0" the first child of the second). */
  errors: Map<string, Note[]>;
  warnings: Map<string, Note[]>;
  /** Each top-level condition's size alone, by tree node path. */
  alone: Map<string, ConditionEstimate>;
}

export const BuilderContext = createContext<BuilderState>({ catalog: [], segments: [], errors: new Map(), warnings: new Map(), alone: new Map() });

/** What a new rule of this type starts with: the type's first example, so it is valid at once. */
export function defaultParams(type: string, catalog: ConditionType[]): Json {
  if (type === JSONLOGIC) return { in: ["vip", { var: "tags" }] };
  if (type === SEGMENT) return { id: "" };
  const example = catalog.find((entry) => entry.name === type)?.examples[0];
  return example ? example[type] : {};
}

function NodeNotes({ path, kind }: { path: number[]; kind: "errors" | "warnings" }) {
  const notes = useContext(BuilderContext)[kind].get(path.join("."));
  if (!notes?.length) return null;
  return (
    <ul className={kind === "errors" ? "node-errors" : "node-warnings"} role={kind === "errors" ? "alert" : "status"} data-testid={`${kind}-${path.join(".") || "root"}`}>
      {notes.map(({ message, suggestion }) => (
        <li key={message}>
          {message}
          {suggestion && <em> — {suggestion}</em>}
        </li>
      ))}
    </ul>
  );
}

/** The size of a top-level condition on its own, beside it: which condition narrows the audience. */
function Alone({ path }: { path: number[] }) {
  const alone = useContext(BuilderContext).alone.get(path.join("."));
  if (alone === undefined) return null;
  const exact = alone.low === alone.high;
  return (
    <span className="alone" data-testid={`alone-${path.join(".")}`} title="contacts this condition matches on its own">
      alone: {exact ? "" : "~"}
      {alone.estimate.toLocaleString()}
      {!exact && ` (${alone.low.toLocaleString()}–${alone.high.toLocaleString()})`}
    </span>
  );
}

/** Everything the API said about one node. */
function NodeFeedback({ path }: { path: number[] }) {
  return (
    <>
      <Alone path={path} />
      <NodeNotes path={path} kind="errors" />
      <NodeNotes path={path} kind="warnings" />
    </>
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
  const { segments, editing } = useContext(BuilderContext);
  const chosen = String(value?.id ?? "");
  const offered = segments.filter((segment) => segment.id !== editing && segment.status !== "archived");
  return (
    <select aria-label="segment" value={chosen} onChange={(event) => onChange({ id: event.target.value })}>
      <option value="">choose a segment…</option>
      {chosen && !offered.some((segment) => segment.id === chosen) && <option value={chosen}>{chosen}</option>}
      {offered.map((segment) => (
        <option key={segment.id} value={segment.id}>
          {segment.name} ({segment.type}
          {typeof segment.count === "number" ? `, ${segment.count.toLocaleString()} contacts` : ""})
        </option>
      ))}
    </select>
  );
}

/**
 * A field with its label, its input, a hint (a duration's format, a number's bounds) and,
 * while focused, its description. A property a marketer names (an event's `where`
 * filter on a property) shows its name once, as the input that renames it, beside a
 * button that removes it.
 */
function CompactField(props: FieldTemplateProps) {
  const { id, label, children, errors, rawDescription, hidden, required, displayLabel, schema, onKeyRenameBlur, onRemoveProperty, disabled, readonly } = props;
  if (hidden) return <div className="hidden">{children}</div>;
  const hint = fieldHint(schema as JsonObject);
  if (ADDITIONAL_PROPERTY_FLAG in schema) {
    return (
      <div className="param named-property">
        <span className="property-name">
          <input type="text" id={`${id}-key`} aria-label="property name" defaultValue={label} key={label} onBlur={onKeyRenameBlur} disabled={disabled || readonly} />
          <RemoveItem id={`${id}-remove`} onClick={onRemoveProperty} disabled={disabled || readonly} registry={props.registry} label={`remove ${label}`} />
        </span>
        {children}
        {errors}
      </div>
    );
  }
  return (
    <div className="param">
      {displayLabel && label && (
        <label htmlFor={id}>
          {label}
          {required && <span className="required"> *</span>}
        </label>
      )}
      {children}
      {hint && <small className="hint">{hint}</small>}
      {rawDescription && (
        <small className="help" id={`${id}__description`}>
          {rawDescription}
        </small>
      )}
      {errors}
    </div>
  );
}

/**
 * An object's parameters: those it needs and those set when it was opened in one row,
 * the rest folded under "more options". Which are shown is fixed when the form opens,
 * so a field being filled in never jumps to another place.
 */
function FoldedObject({ properties, schema, formData, fieldPathId, title, uiSchema, onAddProperty, disabled, readonly }: ObjectFieldTemplateProps) {
  const [set] = useState(() => new Set(properties.filter((p) => (formData as JsonObject | undefined)?.[p.name] !== undefined).map((p) => p.name)));
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const main = properties.filter((p) => required.has(p.name) || set.has(p.name));
  const more = properties.filter((p) => !main.includes(p) && !p.hidden);
  // A named property's name is its rename input (CompactField): no legend repeats it.
  const named = ADDITIONAL_PROPERTY_FLAG in schema;
  return (
    <fieldset className="params-object" id={fieldPathId.$id}>
      {title && !named && <legend>{title}</legend>}
      <div className="param-row">{main.map((p) => p.content)}</div>
      {canExpand(schema, uiSchema, formData) && (
        <button type="button" className="add-item" onClick={onAddProperty} disabled={disabled || readonly} aria-label={`add to ${title ?? "the details"}`}>
          + add
        </button>
      )}
      {more.length > 0 && (
        <details className="more-options">
          <summary>more options ({more.map((p) => humanize(p.name)).join(", ")})</summary>
          <div className="param-row">{more.map((p) => p.content)}</div>
        </details>
      )}
    </fieldset>
  );
}

/** A choice (`anyOf` / `oneOf`): its selector and the chosen branch's field on one line. */
function InlineChoice({ selector, optionSchemaField }: MultiSchemaFieldTemplateProps) {
  return (
    <span className="choice">
      {selector}
      {optionSchemaField}
    </span>
  );
}

/** A list parameter (tags, campaigns): its name, one input per item, and "+ add"; a pair (a range) on one line. */
function CompactArray({ items, canAdd, onAddClick, title, required, disabled, readonly, fieldPathId, schema }: ArrayFieldTemplateProps) {
  return (
    <div className={Array.isArray(schema.items) ? "param-array tuple" : "param-array"} id={fieldPathId.$id}>
      {title && (
        <span className="array-title">
          {title}
          {required && <span className="required"> *</span>}
        </span>
      )}
      <div className="array-items">{items}</div>
      {canAdd && (
        <button type="button" className="add-item" onClick={onAddClick} disabled={disabled || readonly} aria-label={`add to ${title ?? "the list"}`}>
          + add
        </button>
      )}
    </div>
  );
}

/** rjsf's item buttons draw icon fonts the app does not load: these are words. */
function RemoveItem({ id, className, onClick, disabled, label }: IconButtonProps & { label?: string }) {
  return (
    <button type="button" id={id} className={`remove-item ${className ?? ""}`} onClick={onClick} disabled={disabled} aria-label={label ?? "remove this item"} title="remove">
      ×
    </button>
  );
}

const FORM_UI = { "ui:submitButtonOptions": { norender: true }, "ui:globalOptions": { orderable: false, copyable: false } };
const FORM_TEMPLATES = {
  FieldTemplate: CompactField,
  ObjectFieldTemplate: FoldedObject,
  MultiSchemaFieldTemplate: InlineChoice,
  ArrayFieldTemplate: CompactArray,
  ButtonTemplates: { RemoveButton: RemoveItem },
};

function ParamsForm({ type, value, onChange, node }: { type: ConditionType; value: JsonObject; onChange: (value: Json) => void; node: string }) {
  const { completions } = useContext(BuilderContext);
  const schema = useMemo(() => formSchema(type.schema, completions) as RJSFSchema, [type, completions]);
  const [preset, setPreset] = useState(0);
  return (
    <span className="params">
      <Form
        key={preset}
        schema={schema}
        formData={value}
        validator={validator}
        experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipDefaults" }}
        onChange={(event) => onChange(pruneToBranch(schema as Json, (event.formData ?? {}) as Json))}
        uiSchema={FORM_UI}
        templates={FORM_TEMPLATES}
        tagName="div"
        idPrefix={`node${node}`}
      />
      {type.examples.length > 1 && (
        <span className="presets" role="group" aria-label={`examples of ${type.label}`}>
          Examples:
          {type.examples.map((example, index) => (
            <button
              key={index}
              type="button"
              className="preset"
              onClick={() => {
                onChange(example[type.name]);
                setPreset((count) => count + 1); // a new form, so what the example sets is shown, not folded
              }}
            >
              {describeParams(example[type.name], schema as Json)}
            </button>
          ))}
        </span>
      )}
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
      <NodeFeedback path={path} />
    </span>
  );
}

/** AND / OR of a group, with what the API said about the group itself. */
export function GroupCombinator(props: CombinatorSelectorProps) {
  return (
    <span className="combinator" data-testid={`group-${props.path.join(".") || "root"}`}>
      <ValueSelector {...props} />
      <NodeFeedback path={props.path} />
    </span>
  );
}
