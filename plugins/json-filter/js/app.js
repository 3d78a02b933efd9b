// Filter: keeps records whose value is a JSON object with a field equal
// to a given text; the JavaScript port of plugins/json-filter.
//
// Params: field (required; dots reach into nested objects), equals
// (required), on_invalid = "fail" (default) | "drop".

import * as wasmstream from "./wasmstream.js";

class JsonFilter extends wasmstream.Filter {
  init(params) {
    params.only(["field", "equals", "on_invalid"]);
    const onInvalid = params.get("on_invalid", "fail");
    if (onInvalid !== "fail" && onInvalid !== "drop") {
      throw new Error(`param \`on_invalid\` = ${JSON.stringify(onInvalid)}: expected "fail" or "drop"`);
    }
    this.dropInvalid = onInvalid === "drop";
    this.field = params.require("field");
    this.equals = params.require("equals");
  }

  filter(record) {
    try {
      return wasmstream.jsonField(record.value, this.field) === this.equals;
    } catch (e) {
      if (this.dropInvalid && e instanceof wasmstream.OperatorError) return false;
      throw e;
    }
  }
}

export const filter = wasmstream.exportFilter(JsonFilter);
