// Evaluates a PAC file the way a browser does, in Node's vm: node pac_eval.js FILE HOST... prints a
// JSON object {host: result}. The PAC utility functions it may use are the standard ones (Mozilla's
// pac_utils, as Chromium's are); the ones that would resolve a name on this machine throw instead, so
// a PAC that tried would fail the test.
"use strict";
const fs = require("fs");
const vm = require("vm");

function shExpMatch(str, pattern) {
  const re = new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
  return re.test(str);
}
function dnsDomainIs(host, domain) {
  return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}
function resolves() {
  throw new Error("the PAC tried to resolve a name on the laptop");
}

const [file, ...hosts] = process.argv.slice(2);
const sandbox = {
  shExpMatch, dnsDomainIs,
  isPlainHostName: (h) => h.indexOf(".") < 0,
  localHostOrDomainIs: (h, d) => h === d || d.lastIndexOf(h + ".", 0) === 0,
  dnsResolve: resolves, isResolvable: resolves, isInNet: resolves, myIpAddress: resolves,
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(file, "utf8"), sandbox, { filename: file });
const out = {};
for (const host of hosts) {
  const url = "http://" + (host.indexOf(":") >= 0 ? "[" + host + "]" : host) + "/";
  out[host] = sandbox.FindProxyForURL(url, host);
}
process.stdout.write(JSON.stringify(out) + "\n");
