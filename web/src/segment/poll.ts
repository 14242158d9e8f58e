/**
 * Polling for the segment page's live parts (count, fill progress, feed).
 *
 * Each run starts `delayMs` after the previous one ended, never overlapping it, so
 * a slow API gets fewer requests rather than a queue of them. Nothing is polled
 * while the tab is hidden (a marketer's background tab would otherwise poll all
 * day), and leaving the page aborts the request in flight.
 */
import { useEffect, useLayoutEffect, useRef, useState } from "react";

export function useVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState === "visible");
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", update);
    return () => document.removeEventListener("visibilitychange", update);
  }, []);
  return visible;
}

export function usePolling(task: (signal: AbortSignal) => Promise<void>, delayMs: number, enabled: boolean): void {
  const visible = useVisible();
  const latest = useRef(task);
  useLayoutEffect(() => {
    latest.current = task;
  });

  useEffect(() => {
    if (!enabled || !visible) return;
    const controller = new AbortController();
    let timer: number | undefined;
    const run = async () => {
      try {
        await latest.current(controller.signal);
      } catch {
        // The task shows its own errors; polling goes on, a failed read may pass.
      }
      if (!controller.signal.aborted) timer = window.setTimeout(run, delayMs);
    };
    timer = window.setTimeout(run, delayMs);
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [delayMs, enabled, visible]);
}
