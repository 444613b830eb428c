import{a,b,c,d}from"./ide-chunk.XTQVSO57.js";import"./ide-chunk.UX75PJA5.js";import"./ide-chunk.HGVL56TB.js";export{d as css,b as cssCompletionSource,c as cssLanguage,a as defineCSSCompletionSource};
