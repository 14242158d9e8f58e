/** The templates a segment can start from, with what each one finds. */
import { useEffect, useState } from "react";

import { Link } from "wouter";

import type { Template } from "../api";
import { useApp } from "../context";

export function Templates() {
  const { api } = useApp();
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    api.templates().then(setTemplates, (error: unknown) => setProblem((error as Error).message));
  }, [api]);
  if (problem) return <p role="alert">{problem}</p>;
  if (templates === null) return <p>loading…</p>;
  return (
    <section>
      <h2>Templates</h2>
      <ul className="templates">
        {templates.map((template) => (
          <li key={template.id}>
            <Link href={`/new/template/${encodeURIComponent(template.id)}`}>{template.name}</Link> {template.description}
          </li>
        ))}
      </ul>
    </section>
  );
}
