// Where a proposal lives: its public page and the org's own preview of it.
import type { AppConfig } from "../config.ts";

export const proposalUrl = (config: AppConfig, slug: string) => `${config.publicUrl}/p/${slug}`;

/** The page as the org sees it: shown even unpublished, never counted as a view. */
export const proposalPreviewUrl = (config: AppConfig, slug: string, token: string) =>
  `${proposalUrl(config, slug)}?preview=${token}`;
