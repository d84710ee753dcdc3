import { renderToString } from "react-dom/server";
import { Page } from "./ssr.jsx";

export const render = (props) => renderToString(<Page {...props} />);
