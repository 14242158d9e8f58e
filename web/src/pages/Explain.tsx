/** Why a contact is or is not in a segment, as the engine evaluates it now. */
import { useState } from "react";

import { ApiError, type Explanation } from "../api";
import { useApp } from "../context";

export function Explain({ segment = "", contact = "" }: { segment?: string; contact?: string }) {
  const { api, segments } = useApp();
  const [answer, setAnswer] = useState<Explanation | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <section>
      <h2>Explain a contact</h2>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          const data = new FormData(event.currentTarget);
          setProblem(null);
          api.explain(String(data.get("segment")), String(data.get("contact"))).then(setAnswer, (error: unknown) =>
            setProblem(error instanceof ApiError ? error.message : String(error)),
          );
        }}
      >
        <select name="segment" aria-label="segment" defaultValue={segment}>
          {segments.map((entry) => (
            <option key={entry.id} value={entry.id}>
              {entry.name}
            </option>
          ))}
        </select>
        <input name="contact" aria-label="contact id" defaultValue={contact} required />
        <button type="submit">Explain</button>
      </form>
      {problem && <p role="alert">{problem}</p>}
      {answer && (
        <p data-testid="explain-match">
          {answer.contact_id} {answer.match ? "is a member" : "is not a member"} (version {answer.version})
        </p>
      )}
    </section>
  );
}
