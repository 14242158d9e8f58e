/** One segment: what it is and how many members it has now. */
import { useEffect, useState } from "react";
import { Link } from "wouter";

import type { Segment } from "../api";
import { useApp } from "../context";

export function SegmentPage({ id }: { id: string }) {
  const { api } = useApp();
  const [segment, setSegment] = useState<Segment | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api.segment(id, controller.signal).then(setSegment, (error: unknown) => {
      if (!controller.signal.aborted) setProblem((error as Error).message);
    });
    return () => controller.abort();
  }, [api, id]);

  if (problem) return <p role="alert">{problem}</p>;
  if (segment === null) return <p>loading…</p>;
  return (
    <section>
      <h2>{segment.name}</h2>
      <p>
        {segment.type}, version {segment.version}: <strong data-testid="segment-count">{segment.count?.toLocaleString() ?? "—"}</strong> members
      </p>
      <Link href={`/segments/${encodeURIComponent(segment.id)}/edit`}>Edit</Link>{" "}
      <Link href={`/explain/${encodeURIComponent(segment.id)}/`}>Explain a contact</Link>
    </section>
  );
}
