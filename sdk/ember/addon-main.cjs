// What ember-cli loads for a v2 addon in a classic app: the shim hands the package's
// ESM and its app-js files to ember-auto-import and the app tree.
"use strict";
const { addonV1Shim } = require("@embroider/addon-shim");
module.exports = addonV1Shim(__dirname);
