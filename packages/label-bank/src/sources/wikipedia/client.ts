import wiki from 'wikijs';

/** The part of a MediaWiki page record that label-bank reads. */
export interface WikiPageRecord {
  title: string;
  pageid?: number;
  pageprops?: Record<string, unknown>;
}

/** What label-bank uses of a wikijs page. */
export interface WikiPage {
  raw: WikiPageRecord;
  summary(): Promise<string>;
}

/** What label-bank uses of the wikijs client. */
export interface WikiClient {
  page(title: string): Promise<WikiPage>;
}

export const DEFAULT_API_URL = 'https://en.wikipedia.org/w/api.php';

/** A wikijs client for a MediaWiki API endpoint (English Wikipedia by default). */
export function createWikiClient(apiUrl: string = DEFAULT_API_URL, userAgent = 'sentseg-label-bank/0.1 (label descriptions for semantic segmentation)'): WikiClient {
  return wiki({ apiUrl, headers: { 'User-Agent': userAgent } }) as unknown as WikiClient;
}
