/**
 * Why a contact is or is not in a segment: the engine evaluates the segment for the
 * contact now and the page draws its trace, beside the stored membership and the
 * contact's other segments.
 *
 * The segment and the contact live in the address (`#/explain/<segment>/<contact>`),
 * so an answer can be shared and the segment page can link straight to one; the
 * form only navigates, and the address drives what loads.
 */
import { useEffect, useRef, useState } from "react";
import { Link, useLocation } from "wouter";

import { ApiError, type ContactSegments, type Explanation } from "../api";
import { useApp } from "../context";
import { localTime, namesFrom, recheckText, relativeTime, storedMembership, type TraceNode, TraceTree } from "../trace";
import "./explain.css";

/** The API's id patterns (`core/ids.py`, in openapi.json), so a malformed id is named before any request. */
export const SEGMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$/;
export const CONTACT_ID_PATTERN = /^[^#\x00-\x1f\x7f]{1,256}$/;

/** What is wrong with the ids typed, in words, or null when the API can be asked. */
export function idProblem(segment: string, contact: string): string | null {
  if (segment === "") return "Choose a segment.";
  if (!SEGMENT_ID_PATTERN.test(segment)) {
    return `“${segment}” is not a segment id: an id has 1 to 64 letters, digits, '_', '.', ':' or '-', and starts with a letter or a digit.`;
  }
  if (contact === "") return "Type a contact id.";
  if (!CONTACT_ID_PATTERN.test(contact)) {
    return `“${contact}” is not a contact id: an id has 1 to 256 characters, with no '#' and no control characters.`;
  }
  return null;
}

/** The segment a marketer typed: its id, or the name of one of the tenant's segments (any case). */
export function segmentTyped(typed: string, segments: readonly { id: string; name: string }[]): string {
  const text = typed.trim();
  if (segments.some((entry) => entry.id === text)) return text;
  const named = segments.filter((entry) => entry.name.toLowerCase() === text.toLowerCase());
  return named.length === 1 ? named[0].id : text;
}

/** The API's refusal in words, naming the segment or contact it did not find. */
export function explainProblem(error: unknown, segment: string, contact: string): string {
  if (!(error instanceof ApiError)) return `The API could not be reached: ${String(error)}`;
  const where = error.errors.map((detail) => detail.path);
  if (error.status === 404 && where.includes("/segment_id")) return `No segment “${segment}” in this tenant.`;
  if (error.status === 404 && where.includes("/contact_id")) {
    return `No contact “${contact}” in this tenant. Check the id: it is the contact's id as your systems send it, and case matters.`;
  }
  const details = error.errors.map((detail) => detail.message).join("; ");
  return details ? `${error.message}: ${details}` : error.message;
}

/** Route parameters arrive partly decoded (wouter decodes all but reserved characters). */
function decoded(param: string): string {
  try {
    return decodeURIComponent(param);
  } catch {
    return param;
  }
}

type Answer =
  | { state: "idle" }
  | { state: "loading" }
  | { state: "failed"; problem: string }
  | { state: "done"; explanation: Explanation; now: Date };

type Others = { state: "loading" } | { state: "failed"; problem: string } | { state: "done"; segments: ContactSegments["segments"] };

function OtherSegments({ others, segment, contact }: { others: Others; segment: string; contact: string }) {
  if (others.state === "loading") return <p>loading the contact's segments…</p>;
  if (others.state === "failed") return <p role="alert">{others.problem}</p>;
  const shown = others.segments.filter((entry) => entry.segment_id !== segment);
  if (shown.length === 0) return <p data-testid="other-segments">{contact} is in no other segment.</p>;
  const now = new Date();
  return (
    <ul className="explain-others" data-testid="other-segments">
      {shown.map((entry) => (
        <li key={entry.segment_id}>
          <Link href={`/segments/${encodeURIComponent(entry.segment_id)}`}>{entry.name ?? entry.segment_id}</Link>
          {entry.entered_at && (
            <span className="explain-when">
              {" "}
              since {localTime(entry.entered_at)} ({relativeTime(entry.entered_at, now)})
            </span>
          )}{" "}
          <Link
            className="explain-again"
            href={`/explain/${encodeURIComponent(entry.segment_id)}/${encodeURIComponent(contact)}`}
            aria-label={`explain ${contact} in ${entry.name ?? entry.segment_id}`}
          >
            explain
          </Link>
        </li>
      ))}
    </ul>
  );
}

function Verdict({ explanation, name, now }: { explanation: Explanation; name: string; now: Date }) {
  const stored = storedMembership(explanation, now);
  return (
    <>
      <p className={`explain-verdict ${explanation.match ? "member" : "non-member"}`} data-testid="explain-verdict">
        <strong>
          {explanation.match ? "✓" : "✗"} {explanation.contact_id} {explanation.match ? "is a member" : "is not a member"}
        </strong>{" "}
        of {name}
      </p>
      <dl className="explain-facts">
        <div>
          <dt>Evaluated</dt>
          <dd>
            {localTime(explanation.evaluated_at)}, version {explanation.version} of the segment
          </dd>
        </div>
        <div>
          <dt>Stored membership</dt>
          <dd data-testid="explain-stored">{stored.text}</dd>
        </div>
        <div>
          <dt>Next re-check</dt>
          <dd data-testid="explain-recheck">{recheckText(explanation.recheck_at, now)}</dd>
        </div>
      </dl>
      {stored.disagreement && (
        <p className="explain-disagreement" role="status" data-testid="explain-disagreement">
          {stored.disagreement}
        </p>
      )}
    </>
  );
}

export function Explain({ segment = "", contact = "" }: { segment?: string; contact?: string }) {
  const { api, catalog, segments, reloadSegments } = useApp();
  const [, navigate] = useLocation();
  const segmentId = decoded(segment);
  const contactId = decoded(contact);
  const [segmentInput, setSegmentInput] = useState(segmentId);
  const [contactInput, setContactInput] = useState(contactId);
  const [formProblem, setFormProblem] = useState<string | null>(null);
  const [run, setRun] = useState(0);
  const [answer, setAnswer] = useState<Answer>({ state: "idle" });
  const [others, setOthers] = useState<Others>({ state: "loading" });

  const contactField = useRef<HTMLInputElement>(null);

  useEffect(() => {
    setSegmentInput(segmentId);
    setContactInput(contactId);
    // A link that names the segment only (the segment page's) leaves the contact to type.
    if (segmentId !== "" && contactId === "") contactField.current?.focus();
  }, [segmentId, contactId]);

  useEffect(() => {
    const problem = segmentId && contactId ? idProblem(segmentId, contactId) : null;
    setFormProblem(problem);
    if (!segmentId || !contactId || problem) {
      setAnswer({ state: "idle" });
      return;
    }
    let current = true;
    setAnswer({ state: "loading" });
    setOthers({ state: "loading" });
    api.explain(segmentId, contactId).then(
      (explanation) => current && setAnswer({ state: "done", explanation, now: new Date() }),
      (error: unknown) => current && setAnswer({ state: "failed", problem: explainProblem(error, segmentId, contactId) }),
    );
    api.contactSegments(contactId).then(
      (found) => current && setOthers({ state: "done", segments: found.segments }),
      (error: unknown) => current && setOthers({ state: "failed", problem: explainProblem(error, segmentId, contactId) }),
    );
    return () => {
      current = false;
    };
  }, [api, segmentId, contactId, run]);

  const names = namesFrom(catalog, segments);
  const explained = answer.state === "done" ? answer.explanation.segment_id : null;
  const unnamed = explained !== null && !names.segments.has(explained);

  const reloadedFor = useRef<string | null>(null);

  useEffect(() => {
    // A segment saved since the app connected: its name is worth one more read of the
    // list, once (without a name the page shows its id, which is still right).
    if (!unnamed || reloadedFor.current === explained) return;
    reloadedFor.current = explained;
    reloadSegments().catch(() => undefined);
  }, [unnamed, explained, reloadSegments]);

  const segmentName = (id: string) => {
    const name = names.segments.get(id);
    return name ? `“${name}” (${id})` : id;
  };

  return (
    <section className="explain">
      <h2>Explain a contact</h2>
      <p className="explain-intro">
        Evaluates a segment for one contact now and shows why it is or is not a member: each node of the rule with what it
        read.
      </p>
      <form
        className="explain-form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          const chosenSegment = segmentTyped(segmentInput, segments);
          const chosenContact = contactInput.trim();
          const problem = idProblem(chosenSegment, chosenContact);
          setFormProblem(problem);
          if (problem) return;
          if (chosenSegment === segmentId && chosenContact === contactId) setRun((count) => count + 1);
          else navigate(`/explain/${encodeURIComponent(chosenSegment)}/${encodeURIComponent(chosenContact)}`);
        }}
      >
        <label>
          Segment
          <input
            aria-label="segment"
            list="explain-segments"
            value={segmentInput}
            placeholder="a segment's id or name"
            onChange={(event) => setSegmentInput(event.target.value)}
          />
        </label>
        <datalist id="explain-segments">
          {segments.map((entry) => (
            <option key={entry.id} value={entry.id} label={entry.name} />
          ))}
        </datalist>
        <label>
          Contact id
          <input
            aria-label="contact id"
            value={contactInput}
            placeholder="e.g. c108"
            ref={contactField}
            onChange={(event) => setContactInput(event.target.value)}
          />
        </label>
        <button type="submit">Explain</button>
        {names.segments.has(segmentTyped(segmentInput, segments)) && (
          <span className="explain-chosen">{names.segments.get(segmentTyped(segmentInput, segments))}</span>
        )}
      </form>
      {formProblem && (
        <p className="explain-problem" role="alert" data-testid="explain-problem">
          {formProblem}
        </p>
      )}
      {answer.state === "loading" && <p aria-busy="true">evaluating {contactId} against {segmentName(segmentId)}…</p>}
      {answer.state === "failed" && (
        <p className="explain-problem" role="alert" data-testid="explain-problem">
          {answer.problem}
        </p>
      )}
      {answer.state === "done" && (
        <div className="explain-answer" data-testid="explain-answer">
          <Verdict explanation={answer.explanation} name={segmentName(answer.explanation.segment_id)} now={answer.now} />
          <h3>Why</h3>
          <TraceTree trace={answer.explanation.trace as unknown as TraceNode} names={names} now={answer.now} />
          <h3>{answer.explanation.contact_id}'s other segments</h3>
          <OtherSegments others={others} segment={answer.explanation.segment_id} contact={answer.explanation.contact_id} />
        </div>
      )}
    </section>
  );
}
