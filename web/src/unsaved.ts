/**
 * Unsaved edits in the builder: leaving it (another page of the app, a reload, closing
 * the tab) asks first, and saving or discarding the edits stops asking.
 *
 * Reloading and closing are the browser's own `beforeunload` prompt. A page of the app is
 * a change of the address's hash, which no browser prompt guards, so the app's router
 * navigates through `guardedNavigate`: with unsaved edits it asks (the browser's
 * confirm) before it moves. What counts as an edit is what a save would send:
 * `draftKey` of the fields, compared with the key of what was loaded or last saved.
 */
import { useEffect } from "react";
import { navigate, useHashLocation } from "wouter/use-hash-location";

import { type Json, parseIds } from "./rule";

export const LEAVE_MESSAGE = "This segment has unsaved changes. Leave and lose them?";

/** What a save of the builder's fields would send, as one comparable text. */
export interface DraftFields {
  id: string;
  name: string;
  description: string;
  type: string;
  rule: Json | null;
  includeText: string;
  excludeText: string;
  excludeSegments: readonly string[];
}

/** Equal for two sets of fields exactly when a save would send the same segment: ids are
 * compared as the save parses them (lines or commas, blanks dropped), a static segment's
 * rule and exclusions are not sent, and the order of excluded segments does not matter. */
export function draftKey(fields: DraftFields): string {
  const isStatic = fields.type === "static";
  return JSON.stringify([
    fields.id.trim(),
    fields.name,
    fields.description,
    fields.type,
    isStatic ? null : fields.rule,
    parseIds(fields.includeText),
    isStatic ? [] : parseIds(fields.excludeText),
    isStatic ? [] : [...fields.excludeSegments].sort(),
  ]);
}

let unsavedPages = 0;

/** While `unsaved`, leaving the page asks first: the browser's prompt on reload and close,
 * `guardedNavigate`'s on a page of the app. */
export function useLeaveGuard(unsaved: boolean): void {
  useEffect(() => {
    if (!unsaved) return;
    const ask = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = ""; // older browsers show the prompt only when this is set
    };
    unsavedPages += 1;
    window.addEventListener("beforeunload", ask);
    return () => {
      unsavedPages -= 1;
      window.removeEventListener("beforeunload", ask);
    };
  }, [unsaved]);
}

/** The hash router's navigation, asking first while a page has unsaved edits (`guarded:
 * false`: a move that loses nothing, such as to the page of what was just saved). */
export function guardedNavigate(to: string, options: { replace?: boolean; state?: unknown; guarded?: boolean } = {}): void {
  const { guarded = true, ...moving } = options;
  if (guarded && unsavedPages > 0 && !window.confirm(LEAVE_MESSAGE)) return;
  navigate(to, moving);
}

/** The version of segment `id` a save just created, when the address was opened by that
 * save (the history entry's state, see `guardedNavigate`) and it is still the current one. */
export function justSaved(state: unknown, id: string, version: number): { id: string; version: number } | undefined {
  const saved = (state as { saved?: { id?: unknown; version?: unknown } } | null)?.saved;
  return saved?.id === id && saved.version === version ? { id, version } : undefined;
}

/** The app's router hook: the address's hash, moved by `guardedNavigate`. */
export function useGuardedHashLocation(): [string, typeof guardedNavigate] {
  const [location] = useHashLocation();
  return [location, guardedNavigate];
}
/** A link's `href` for a path (as `useHashLocation.hrefs`, which its types do not declare). */
useGuardedHashLocation.hrefs = (href: string): string => `#${href}`;
