-- up
ALTER TABLE "posts" ALTER COLUMN "title" TYPE character varying(100) COLLATE "C" USING "title"::text;
-- down
ALTER TABLE "posts" ALTER COLUMN "title" TYPE character varying(200) COLLATE "C" USING "title"::text;
