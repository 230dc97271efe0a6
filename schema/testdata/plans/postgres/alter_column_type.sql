-- up
ALTER TABLE "posts" ALTER COLUMN "views" DROP DEFAULT;
ALTER TABLE "posts" ALTER COLUMN "views" TYPE bigint USING "views"::bigint;
ALTER TABLE "posts" ALTER COLUMN "views" SET DEFAULT 0;
-- down
ALTER TABLE "posts" ALTER COLUMN "views" DROP DEFAULT;
ALTER TABLE "posts" ALTER COLUMN "views" TYPE integer USING "views"::integer;
ALTER TABLE "posts" ALTER COLUMN "views" SET DEFAULT 0;
