/**
 * Contacts picked by hand: always in (whatever the rule says) or always out. Saving
 * writes a new version of the whole segment, sent with the version this page loaded,
 * so a change someone else saved meanwhile is a conflict the marketer sees, not one
 * silently overwritten; reloading re-applies their picks to the newer version.
 */
import { type FormEvent, useState } from "react";
import { Link } from "wouter";

import { ApiError, inUseBy, type Segment } from "../api";
import { useApp } from "../context";
import {
  definitionWith,
  describeError,
  type ManualContacts,
  type ManualProblems,
  parseContactIds,
  problemsByList,
  rebaseManual,
  withIds,
} from "./logic";
import { InUseConfirm } from "./Manage";

type ListName = keyof ManualContacts;

const LISTS: { name: ListName; title: string; help: string }[] = [
  { name: "include_contacts", title: "Always include", help: "members whatever the rule says" },
  { name: "exclude_contacts", title: "Always exclude", help: "never members, whatever the rule says" },
];

const manualOf = (segment: Segment): ManualContacts => ({
  include_contacts: segment.include_contacts,
  exclude_contacts: segment.exclude_contacts,
});

function ContactList({
  segmentId,
  list,
  ids,
  problem,
  onAdd,
  onRemove,
}: {
  segmentId: string;
  list: (typeof LISTS)[number];
  ids: string[];
  problem: string | undefined;
  onAdd: (ids: string[]) => void;
  onRemove: (id: string) => void;
}) {
  const [text, setText] = useState("");
  const [invalid, setInvalid] = useState<string[]>([]);
  const inputId = `${list.name}-input`;
  const add = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseContactIds(text);
    setInvalid(parsed.invalid);
    if (parsed.ids.length > 0) onAdd(parsed.ids);
    setText(parsed.invalid.join(" "));
  };
  return (
    <div className="manual-list" data-testid={list.name}>
      <h4>
        {list.title} <span className="hint">({list.help})</span>
      </h4>
      {ids.length === 0 ? (
        <p className="segment-empty">Nobody.</p>
      ) : (
        <ul>
          {ids.map((id) => (
            <li key={id}>
              <Link href={`/explain/${encodeURIComponent(segmentId)}/${encodeURIComponent(id)}`}>{id}</Link>{" "}
              <button type="button" aria-label={`Remove ${id} from ${list.title.toLowerCase()}`} onClick={() => onRemove(id)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={add}>
        <label htmlFor={inputId}>Contact ids to {list.title.toLowerCase()}</label>{" "}
        <input id={inputId} value={text} onChange={(event) => setText(event.target.value)} placeholder="c12, c34" />{" "}
        <button type="submit">Add</button>
      </form>
      {invalid.length > 0 && (
        <p role="alert" className="problem">
          Not a contact id (1–256 characters, no “#”): {invalid.join(", ")}
        </p>
      )}
      {problem && (
        <p role="alert" className="problem">
          {problem}
        </p>
      )}
    </div>
  );
}

interface EditorProps {
  segment: Segment;
  /** The version the page's live header last read: newer than the one edited, a save will be refused. */
  latestVersion: number;
  onSaved: (saved: Segment) => void;
}

export function ManualContactsEditor({ segment, latestVersion, onSaved }: EditorProps) {
  const { api } = useApp();
  /** The version the edit started from: saving sends its number, and re-applies to a newer one on reload. */
  const [base, setBase] = useState<Segment>(segment);
  const [edited, setEdited] = useState<ManualContacts>(() => manualOf(segment));
  const [saving, setSaving] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  /** The modules the save would change the segment under, once the API asked to confirm it. */
  const [users, setUsers] = useState<string[] | null>(null);
  const [problems, setProblems] = useState<ManualProblems>({});

  const changed = LISTS.some(({ name }) => edited[name].join("\u0000") !== base[name].join("\u0000"));
  const update = (name: ListName, ids: string[]) => {
    setEdited({ ...edited, [name]: ids });
    setStatus(null);
  };

  const save = async (confirm = false) => {
    setSaving(true);
    setStatus(null);
    setProblems({});
    setUsers(null);
    try {
      const saved = await api.save(definitionWith(base, edited), base.version, confirm);
      setBase(saved);
      setEdited(manualOf(saved));
      setStatus(`Saved as version ${saved.version}; members are being updated.`);
      onSaved(saved);
    } catch (error) {
      if (inUseBy(error)) {
        setUsers(inUseBy(error));
      } else if (error instanceof ApiError && error.status === 409) {
        setConflict(true);
      } else if (error instanceof ApiError && error.status === 422) {
        setProblems(problemsByList(error));
      } else {
        setProblems({ other: describeError(error) });
      }
    } finally {
      setSaving(false);
    }
  };

  const reload = async () => {
    try {
      const fresh = await api.segment(base.id);
      setEdited(rebaseManual(manualOf(base), edited, manualOf(fresh)));
      setBase(fresh);
      setConflict(false);
      setStatus(`Reloaded version ${fresh.version}; your changes are applied to it, not saved yet.`);
    } catch (error) {
      setProblems({ other: describeError(error) });
    }
  };

  return (
    <section className="panel manual" aria-labelledby="manual-title">
      <div className="panel-head">
        <h3 id="manual-title">Picked by hand</h3>
        <span className="hint">editing version {base.version}</span>
      </div>
      <div className="manual-lists">
        {LISTS.map((list) => (
          <ContactList
            key={list.name}
            segmentId={base.id}
            list={list}
            ids={edited[list.name]}
            problem={problems[list.name]}
            onAdd={(ids) => update(list.name, withIds(edited[list.name], ids))}
            onRemove={(id) => update(list.name, edited[list.name].filter((kept) => kept !== id))}
          />
        ))}
      </div>
      {!conflict && latestVersion > base.version && (
        <p className="hint" data-testid="manual-stale">
          Version {latestVersion} was saved since you opened this (you are editing version {base.version}).{" "}
          <button type="button" onClick={() => void reload()}>
            Reload
          </button>
        </p>
      )}
      {users && (
        <InUseConfirm
          users={users}
          consequence="Saving changes who they reach"
          action="Save anyway"
          busy={saving}
          testId="manual-confirm"
          onConfirm={() => void save(true)}
          onCancel={() => setUsers(null)}
        />
      )}
      {conflict && (
        <p role="alert" className="problem conflict" data-testid="manual-conflict">
          Not saved: this segment was changed by someone else since you opened it (you had version {base.version}).{" "}
          <button type="button" onClick={() => void reload()}>
            Reload
          </button>
        </p>
      )}
      {problems.other && (
        <p role="alert" className="problem">
          Not saved: {problems.other}
        </p>
      )}
      <div className="manual-actions">
        <button type="button" onClick={() => void save()} disabled={!changed || saving}>
          {saving ? "Saving…" : "Save changes"}
        </button>
        {status && (
          <output role="status" data-testid="manual-status">
            {status}
          </output>
        )}
      </div>
    </section>
  );
}
