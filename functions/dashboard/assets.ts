// The dashboard's assets as served under /app/assets/: each under a name that carries a hash
// of its content (dashboard.3f9c0a1b.js), so a page always loads the files it was rendered
// with and the files can be cached for a year. The texts come from node/dashboard-assets.ts (disk on
// Node, inline in the Edge bundle); names and bytes are worked out once per process.
import { type AssetFileName, assetFileNames, readAssetFiles } from "../node/dashboard-assets.ts";

export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

export interface Assets {
  /** The versioned file name of each asset, for the pages' links. */
  names: Record<AssetFileName, string>;
  /** The assets by versioned file name. */
  byName: Map<string, Asset>;
}

const contentTypes: Record<string, string> = { js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8" };

async function shortHash(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.slice(0, 5), (b) => b.toString(16).padStart(2, "0")).join("");
}

let loading: Promise<Assets> | undefined;

export function dashboardAssets(): Promise<Assets> {
  loading ??= (async () => {
    const files = await readAssetFiles();
    const names = {} as Record<AssetFileName, string>;
    const byName = new Map<string, Asset>();
    for (const file of assetFileNames) {
      const body = new TextEncoder().encode(files[file]);
      const extension = file.slice(file.lastIndexOf(".") + 1);
      const name = `${file.slice(0, file.lastIndexOf("."))}.${await shortHash(body)}.${extension}`;
      names[file] = name;
      byName.set(name, { body, contentType: contentTypes[extension]! });
    }
    return { names, byName };
  })();
  loading.catch(() => { loading = undefined; });
  return loading;
}
