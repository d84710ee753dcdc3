import { hydrateRoot } from "react-dom/client";
import { Page } from "./ssr.jsx";

/** What React could not hydrate as the server rendered it: none should be. */
window.hydrationErrors = [];
window.hydrate = (props) =>
  hydrateRoot(document.getElementById("root"), <Page {...props} />, {
    onRecoverableError: (error) => window.hydrationErrors.push(String(error)),
  });
