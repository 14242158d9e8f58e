/**
 * What every page shares once connected: the API client (one key, so one tenant),
 * the condition catalog and the tenant's segments (read once; a page that changes
 * segments calls `reloadSegments` so the others see it).
 */
import { createContext, useContext } from "react";

import type { Api, ConditionType, Segment } from "./api";

export interface AppState {
  api: Api;
  catalog: ConditionType[];
  segments: Segment[];
  reloadSegments: () => Promise<void>;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (state === null) throw new Error("useApp outside a connected app");
  return state;
}
