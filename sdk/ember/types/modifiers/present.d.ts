import Modifier from "ember-modifier";
import type { Meta } from "rollcall";

export interface PresentSignature {
  Element: Element;
  Args: {
    /** The channel to be in while the element is rendered. */
    Positional: [channel: string];
    /** This browser's meta in the channel, e.g. `(hash typing=this.typing)`. */
    Named: { meta?: Meta };
  };
}

/** `{{present "/topic/42" meta=(hash typing=this.typing)}}`: in the channel while the element is rendered. */
export default class PresentModifier extends Modifier<PresentSignature> {}
