/**
 * The templates a segment can start from, by category: each card says what its rule
 * finds in words (the conditions it combines and their parameters) and opens the builder
 * with that rule. Templates come from `GET /templates`, so an outside plugin's show up too.
 */
import "./segments.css";

import { useEffect, useMemo, useState } from "react";
import { Link } from "wouter";

import type { Template } from "../api";
import { useApp } from "../context";
import { galleryOf, type RuleSummary, summarizeRule } from "./templateList";

export function SummaryTree({ summary }: { summary: RuleSummary }) {
  switch (summary.kind) {
    case "all":
    case "any":
      return (
        <>
          <span>{summary.kind === "all" ? "all of" : "any of"}</span>
          <ul>
            {summary.children.map((child, index) => (
              <li key={index}>
                <SummaryTree summary={child} />
              </li>
            ))}
          </ul>
        </>
      );
    case "not":
      return (
        <>
          <span>not </span>
          <SummaryTree summary={summary.child} />
        </>
      );
    case "condition":
      return (
        <span>
          <strong>{summary.label}</strong> <span className="detail">{summary.detail}</span>
        </span>
      );
    case "segment":
      return <span>in segment {summary.id}</span>;
    case "logic":
      return <code>{summary.text}</code>;
  }
}

function TemplateCard({ template }: { template: Template }) {
  const { catalog } = useApp();
  const summary = useMemo(() => summarizeRule(template.rule, catalog), [template, catalog]);
  const heading = `template-${template.id}-name`;
  return (
    <li className="template-card" data-testid={`template-${template.id}`} aria-labelledby={heading}>
      <h4 id={heading}>{template.name}</h4>
      <p>{template.description}</p>
      <div className="rule-summary" data-testid={`template-summary-${template.id}`}>
        <SummaryTree summary={summary} />
      </div>
      <Link className="button primary start" href={`/new/template/${encodeURIComponent(template.id)}`} aria-describedby={heading}>
        Start from this template
      </Link>
    </li>
  );
}

export function Templates() {
  const { api, catalog } = useApp();
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  useEffect(() => {
    api.templates().then(setTemplates, (error: unknown) => setProblem((error as Error).message));
  }, [api]);
  const gallery = useMemo(() => (templates === null ? [] : galleryOf(templates, catalog, query)), [templates, catalog, query]);

  if (problem) {
    return (
      <p className="node-errors" role="alert">
        {problem}
      </p>
    );
  }
  if (templates === null) return <p aria-busy="true">loading templates…</p>;
  const shown = gallery.reduce((total, category) => total + category.templates.length, 0);
  return (
    <section className="templates-gallery">
      <div className="segments-head">
        <h2>Templates</h2>
        <Link className="button" href="/new">
          Start from scratch
        </Link>
      </div>
      <div className="segments-tools" role="search">
        <label>
          Search templates
          <input type="search" placeholder="name, description or condition" value={query} onChange={(event) => setQuery(event.target.value)} />
        </label>
      </div>
      <p className="segments-summary" data-testid="templates-summary" aria-live="polite">
        {shown === templates.length ? `${templates.length} templates` : `${shown} of ${templates.length} templates`}
      </p>
      {templates.length === 0 && <p className="empty">No templates are installed.</p>}
      {templates.length > 0 && shown === 0 && (
        <div className="empty">
          <p>No template matches “{query.trim()}”.</p>
          <button type="button" onClick={() => setQuery("")}>
            Clear search
          </button>
        </div>
      )}
      {gallery.map((category) => (
        <section key={category.name} aria-labelledby={`category-${category.name}`} data-testid={`category-${category.name}`}>
          <h3 id={`category-${category.name}`}>{category.title}</h3>
          <ul className="template-cards">
            {category.templates.map((template) => (
              <TemplateCard key={template.id} template={template} />
            ))}
          </ul>
        </section>
      ))}
    </section>
  );
}
