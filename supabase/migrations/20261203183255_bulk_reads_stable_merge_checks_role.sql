-- Bulk's functions follow the schema guards: the duplicates and search reads are declared
-- stable (they write nothing), and the merge's record mover, which authenticated may call,
-- checks the caller's role first (a viewer writes nothing, by whichever path).
-- Written by npm run db:diff, reviewed by hand.

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._merge_lead_records(p_primary text, p_duplicates text[])
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_moved jsonb := '{}'::jsonb;
    v_count integer;
  begin
    perform app.ensure_can_write();
    if v_org is null or (select count(*) from app.leads l
                         where l.org_id = v_org and l.id = any (p_duplicates || p_primary)) <> cardinality(p_duplicates) + 1 then
      raise exception 'app._merge_lead_records runs inside app.merge_leads, on leads of the caller''s org' using errcode = '42501';
    end if;

    update app.notes x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('notes', v_count);
    update app.touchpoints x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('touchpoints', v_count);
    update app.events x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('events', v_count);
    update app.stage_changes x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('stageChanges', v_count);
    update app.automation_runs x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('automationRuns', v_count);
    update app.meetings x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('meetings', v_count);
    update app.quiz_submissions x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('quizSubmissions', v_count);
    update app.sync_events x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('syncEvents', v_count);
    update app.proposal_visits x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('proposalVisits', v_count);
    update app.email_suppressions x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);

    -- Enrolments: a campaign the primary is already active in stops the duplicate's first.
    perform app._finish_enrollment(v_org, e.id, 'stopped', 'merged into ' || p_primary, pg_catalog.now())
    from app.enrollments e
    where e.org_id = v_org and e.lead_id = any (p_duplicates) and e.status = 'active'
      and exists (select from app.enrollments p where p.org_id = v_org and p.lead_id = p_primary
                  and p.campaign_id = e.campaign_id and p.status = 'active');
    -- Of two duplicates active in one campaign the primary is not, the earlier enrolment stays.
    perform app._finish_enrollment(v_org, e.id, 'stopped', 'merged into ' || p_primary, pg_catalog.now())
    from app.enrollments e
    where e.org_id = v_org and e.lead_id = any (p_duplicates) and e.status = 'active'
      and exists (select from app.enrollments o where o.org_id = v_org and o.lead_id = any (p_duplicates) and o.id <> e.id
                  and o.campaign_id = e.campaign_id and o.status = 'active' and (o.enrolled_at, o.id) < (e.enrolled_at, e.id));
    update app.enrollments x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('enrollments', v_count);
    update app.outbox x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);

    insert into app.lead_facts (org_id, lead_id, kind, value, created_at)
    select f.org_id, p_primary, f.kind, f.value, f.created_at
    from app.lead_facts f where f.org_id = v_org and f.lead_id = any (p_duplicates)
    on conflict do nothing;
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('leadFacts', v_count);
    delete from app.lead_facts f where f.org_id = v_org and f.lead_id = any (p_duplicates);

    insert into app.lead_engagement as g (org_id, lead_id, quiz_completions, quiz_score, proposal_views, proposal_seconds,
      video_percent, cta_clicks, meetings_booked, meeting_canceled_at, last_meeting_booked_at, emails_sent, emails_opened,
      emails_replied, bounced_at, unsubscribed_at, last_event_at)
    select v_org, p_primary, sum(e.quiz_completions), (array_agg(e.quiz_score order by e.last_event_at desc nulls last)
        filter (where e.quiz_score is not null))[1],
      sum(e.proposal_views), sum(e.proposal_seconds), max(e.video_percent), sum(e.cta_clicks), sum(e.meetings_booked),
      max(e.meeting_canceled_at), max(e.last_meeting_booked_at), sum(e.emails_sent), sum(e.emails_opened),
      sum(e.emails_replied), max(e.bounced_at), max(e.unsubscribed_at), max(e.last_event_at)
    from app.lead_engagement e
    where e.org_id = v_org and e.lead_id = any (p_duplicates || p_primary)
    having count(*) > 0
    on conflict (org_id, lead_id) do update set
      quiz_completions = excluded.quiz_completions, quiz_score = excluded.quiz_score, proposal_views = excluded.proposal_views,
      proposal_seconds = excluded.proposal_seconds, video_percent = excluded.video_percent, cta_clicks = excluded.cta_clicks,
      meetings_booked = excluded.meetings_booked, meeting_canceled_at = excluded.meeting_canceled_at,
      last_meeting_booked_at = excluded.last_meeting_booked_at, emails_sent = excluded.emails_sent,
      emails_opened = excluded.emails_opened, emails_replied = excluded.emails_replied, bounced_at = excluded.bounced_at,
      unsubscribed_at = excluded.unsubscribed_at, last_event_at = excluded.last_event_at;
    delete from app.lead_engagement e where e.org_id = v_org and e.lead_id = any (p_duplicates);
    delete from app.lead_scores s where s.org_id = v_org and s.lead_id = any (p_duplicates);

    if not exists (select from app.unsubscribe_tokens t where t.org_id = v_org and t.lead_id = p_primary) then
      update app.unsubscribe_tokens t set lead_id = p_primary
      where t.org_id = v_org and t.token = (select x.token from app.unsubscribe_tokens x
                                            where x.org_id = v_org and x.lead_id = any (p_duplicates) limit 1);
    end if;

    update app.proposals p set content = d.content, published = d.published
    from (select x.content, x.published from app.proposals x
          where x.org_id = v_org and x.lead_id = any (p_duplicates) and x.content <> '{}'::jsonb
          order by pg_catalog.array_position(p_duplicates, x.lead_id) limit 1) d
    where p.org_id = v_org and p.lead_id = p_primary and p.content = '{}'::jsonb;
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('proposalContent', v_count);

    perform from app.score_leads(v_org, array[p_primary]);
    return v_moved;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.lead_duplicates(p_lead_id text DEFAULT NULL::text, p_min_similarity real DEFAULT 0.6)
 RETURNS TABLE(lead_id text, duplicate_id text, reasons text[], similarity real)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      raise exception 'app.lead_duplicates runs inside a request acting as an org' using errcode = '42501';
    end if;
    perform pg_catalog.set_config('pg_trgm.similarity_threshold', greatest(least(p_min_similarity, 1), 0.1)::text, true);
    return query
    with base as (
      select l.id, l.name_key, l.phone_key, l.organization_key, l.company_key
      from app.leads l
      where l.org_id = v_org and l.deleted_at is null and (p_lead_id is null or l.id = p_lead_id)
    ),
    pairs as (
      select a.id as a, b.id as b, 'same_name_and_company'::text as reason
      from base a
      join app.leads b on b.org_id = v_org and b.deleted_at is null and b.name_key = a.name_key and b.id <> a.id
      where a.name_key is not null and coalesce(a.organization_key, a.company_key) is not null
        and (b.organization_key in (a.organization_key, a.company_key) or b.company_key in (a.organization_key, a.company_key))
      union all
      select a.id, b.id, 'same_phone'
      from base a
      join app.leads b on b.org_id = v_org and b.deleted_at is null and b.phone_key = a.phone_key and b.id <> a.id
      where a.phone_key is not null
      union all
      select a.id, b.id, 'similar_name'
      from base a
      join app.leads b on b.org_id = v_org and b.deleted_at is null and b.name_key operator(extensions.%) a.name_key and b.id <> a.id
      where a.name_key is not null and length(a.name_key) >= 4
    )
    select case when p_lead_id is null then least(p.a, p.b) else p.a end,
           case when p_lead_id is null then greatest(p.a, p.b) else p.b end,
           array_agg(distinct p.reason order by p.reason),
           max(extensions.similarity(x.name_key, y.name_key))
    from pairs p
    join app.leads x on x.org_id = v_org and x.id = p.a
    join app.leads y on y.org_id = v_org and y.id = p.b
    group by 1, 2;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.search_leads(p_q text, p_limit integer DEFAULT 20)
 RETURNS TABLE(lead_id text, rank real, matched text[], snippet text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_text constant text := pg_catalog.lower(pg_catalog.btrim(p_q));
    v_words constant tsquery := pg_catalog.websearch_to_tsquery('pg_catalog.simple'::regconfig, p_q);
    v_prose constant tsquery := pg_catalog.websearch_to_tsquery('pg_catalog.english'::regconfig, p_q);
    v_limit constant integer := greatest(least(p_limit, 100), 1);
    v_fuzzy boolean;
  begin
    if v_org is null then
      raise exception 'app.search_leads runs inside a request acting as an org' using errcode = '42501';
    end if;
    perform pg_catalog.set_config('pg_trgm.word_similarity_threshold', '0.5', true);
    -- Trigrams look for what the words miss (typos, parts of words). When the words alone find a
    -- page of leads there is nothing to look for, and words common to many leads ("dental") make
    -- the trigram match read every lead of the org.
    v_fuzzy := (select count(*) from (select from app.leads l
                                      where l.org_id = v_org and l.deleted_at is null and l.search_doc operator(pg_catalog.@@) v_words
                                      limit v_limit) x) < v_limit;
    return query
    with hits as (
      select l.id, (pg_catalog.ts_rank_cd(l.search_doc, v_words, 1) * 2)::real as score, 'lead'::text as kind, null::text as note_id
      from app.leads l
      where l.org_id = v_org and l.deleted_at is null and l.search_doc operator(pg_catalog.@@) v_words
      union all
      select l.id, extensions.word_similarity(v_text, l.search_text), 'fuzzy', null
      from app.leads l
      where v_fuzzy and l.org_id = v_org and l.deleted_at is null and v_text operator(extensions.<%) l.search_text
      union all
      select n.lead_id, (pg_catalog.ts_rank_cd(n.search_doc, v_prose, 1) * 0.5)::real, 'note', n.id
      from app.notes n
      where n.org_id = v_org and n.search_doc operator(pg_catalog.@@) v_prose
      union all
      select f.lead_id, (extensions.word_similarity(v_text, f.value) * 0.5)::real, 'fact', null
      from app.lead_facts f
      where f.org_id = v_org and v_text operator(extensions.<%) f.value
    ),
    ranked as (
      select h.id, sum(h.score)::real as rank, array_agg(distinct h.kind order by h.kind) as matched,
             (array_agg(h.note_id order by h.score desc) filter (where h.note_id is not null))[1] as note_id
      from hits h
      join app.leads l on l.org_id = v_org and l.id = h.id and l.deleted_at is null
      group by h.id
      order by 2 desc, h.id
      limit v_limit
    )
    select r.id, r.rank, r.matched,
      (select pg_catalog.ts_headline('pg_catalog.english'::regconfig, n.content, v_prose, 'MaxWords=20, MinWords=8, MaxFragments=1')
       from app.notes n where n.org_id = v_org and n.id = r.note_id)
    from ranked r
    order by r.rank desc, r.id;
  end;
  $function$
;
