// The dashboard's static files as text: our script and stylesheet (functions/dashboard/static/) and Chart.js's
// UMD build from the pinned chart.js package. On Node they are read from disk here; the Edge
// Function has no files but its bundle, so scripts/build-edge.ts replaces this module in the
// bundle with one that returns the same texts inline (it calls readAssetFiles to get them).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const assetFileNames = ["dashboard.js", "dashboard.css", "chart.umd.min.js"] as const;
export type AssetFileName = (typeof assetFileNames)[number];

export async function readAssetFiles(): Promise<Record<AssetFileName, string>> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // chart.js exports only its ES and CommonJS entries; the UMD build sits next to them in dist/.
  const chartDist = path.dirname(createRequire(import.meta.url).resolve("chart.js"));
  const [js, css, chart] = await Promise.all([
    readFile(path.join(here, "../dashboard/static/dashboard.js"), "utf8"),
    readFile(path.join(here, "../dashboard/static/dashboard.css"), "utf8"),
    readFile(path.join(chartDist, "chart.umd.min.js"), "utf8"),
  ]);
  return { "dashboard.js": js, "dashboard.css": css, "chart.umd.min.js": chart };
}
