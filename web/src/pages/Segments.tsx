/** The tenant's segments with their live counts; each opens its page. */
import { Link } from "wouter";

import { useApp } from "../context";

export function Segments() {
  const { segments } = useApp();
  return (
    <section>
      <h2>Segments</h2>
      <table className="segments">
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Members</th>
          </tr>
        </thead>
        <tbody>
          {segments.map((segment) => (
            <tr key={segment.id} data-testid={`segment-${segment.id}`}>
              <td>
                <Link href={`/segments/${encodeURIComponent(segment.id)}`}>{segment.name}</Link>
              </td>
              <td>{segment.type}</td>
              <td>{segment.count?.toLocaleString() ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
