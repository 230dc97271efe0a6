-- up
ALTER TABLE "posts" RENAME COLUMN "title" TO "strata_del_c0201f7ce80f";
ALTER TABLE "posts" ALTER COLUMN "strata_del_c0201f7ce80f" DROP NOT NULL;
-- down
ALTER TABLE "posts" ALTER COLUMN "strata_del_c0201f7ce80f" SET NOT NULL;
ALTER TABLE "posts" RENAME COLUMN "strata_del_c0201f7ce80f" TO "title";
