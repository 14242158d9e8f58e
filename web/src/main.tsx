// react-querybuilder's styles load with the app's, before them, so that the app's win
// whichever page is opened first.
import "react-querybuilder/dist/query-builder.css";
import "./styles.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "./App";

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
